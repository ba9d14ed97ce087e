"""Which files an ingest reads: regular files inside the folders it was given, nothing else.

A link out of a given folder (file or folder), a dangling link, a pipe or a device is refused
with a one-line reason; a file name that is not valid UTF-8 is shown with U+FFFD.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from ingest.load import SUPPORTED_SUFFIXES, display_path


def _inside(path: Path, roots: list[Path]) -> bool:
    return any(path == root or root in path.parents for root in roots)


def _error(path: str | os.PathLike, reason: str) -> dict:
    return {"path": display_path(path), "error": reason}


def _walk(folder: Path, roots: list[Path], files: list[Path], errors: list[dict]) -> None:
    """Collect the report files under ``folder`` without following links out of ``roots``.

    Links to folders are never followed (their files inside the roots are reached by the
    real path; a link cycle cannot recurse). Links to files are read only when the target
    lies inside the roots: ``shadow.md → /etc/shadow`` would make the server's secrets
    searchable by every app user.
    """
    try:
        entries = sorted(os.scandir(folder), key=lambda e: os.fsencode(e.name))
    except OSError as err:
        errors.append(_error(folder, f"无法读取目录：{err.strerror}"))
        return
    for entry in entries:
        if entry.name.startswith("."):
            continue  # hidden files and folders (.git, editor backups, our own index)
        path = Path(entry.path)
        try:
            if entry.is_symlink():
                target = Path(os.path.realpath(path))
                if not target.exists():
                    errors.append(_error(path, "符号链接失效：指向的文件不存在"))
                elif not _inside(target, roots):
                    kind = "目录" if target.is_dir() else "文件"
                    errors.append(_error(path, f"符号链接指向所选文件夹之外的{kind}，出于安全不导入"))
                elif target.is_file() and path.suffix.lower() in SUPPORTED_SUFFIXES:
                    files.append(path)
                elif target.is_file():
                    errors.append(_error(path, f"不支持的文件类型 {display_path(path.suffix) or '（无扩展名）'}"))
                # a link to a folder inside the roots: its files are found under their real path
            elif entry.is_dir(follow_symlinks=False):
                _walk(path, roots, files, errors)
            elif not entry.is_file(follow_symlinks=False):
                errors.append(_error(path, "不是普通文件（管道、设备或套接字），已跳过"))
            elif path.suffix.lower() in SUPPORTED_SUFFIXES:
                files.append(path)
            else:
                errors.append(_error(path, f"不支持的文件类型 {display_path(path.suffix) or '（无扩展名）'}"))
        except OSError as err:  # a name or entry the OS cannot stat costs that entry only
            errors.append(_error(path, f"无法读取：{err.strerror}"))


def find_files(paths: Iterable[str | os.PathLike]) -> tuple[list[Path], list[dict]]:
    """Expand files and folders into report files; unusable entries become errors.

    Only regular files inside the given folders are read. A path named by the caller is
    taken as chosen (also through a link), but must be a regular file or a folder.

    Args:
        paths: Files and/or folders.

    Returns:
        (report files, ``{"path", "error"}`` entries with a one-line Chinese reason each).
    """
    files: list[Path] = []
    errors: list[dict] = []
    folders: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            folders.append(path)
        elif path.is_file():
            files.append(path)
        elif path.is_symlink():
            errors.append(_error(path, "符号链接失效：指向的文件不存在"))
        elif path.exists():
            errors.append(_error(path, "不是普通文件（管道、设备或套接字），不能导入"))
        else:
            errors.append(_error(path, "文件或目录不存在"))
    roots = [Path(os.path.realpath(folder)) for folder in folders]
    for folder in folders:
        _walk(folder, roots, files, errors)
    return files, errors
