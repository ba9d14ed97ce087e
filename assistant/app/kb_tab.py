"""The 知识库 tab: upload (checked, stored under ``{db}/uploads/``), re-index, delete documents."""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import gradio as gr

from assistant.app.common import _MAGIC, UPLOAD_SUFFIXES, UploadResult, _md_cell, md_escape, sanitize_filename
from assistant.progress import IngestProgress, format_seconds

log = logging.getLogger(__name__)

DOC_HEADERS = ["镇", "标题", "文号", "日期", "段落数", "导入时间", "编号"]


def document_rows(documents: Sequence[dict]) -> list[list]:
    """Rows of the knowledge-base table: 镇, 标题, 文号, 日期, 段落数, 导入时间, 编号.

    A town the parser could not find is shown with its file name, ``未识别镇-4717c9（报告.txt）``,
    so the user can tell which report it is and set its town.
    """
    rows = []
    for d in documents:
        town = town_display(d)
        rows.append(
            [
                town,
                d.get("title") or "—",
                d.get("doc_number") or "—",
                d.get("date") or "—",
                int(d.get("paragraphs") or 0),
                d.get("ingested_at") or "—",
                d.get("doc_id") or "",
            ]
        )
    return rows


def town_display(document: dict) -> str:
    """The town as the user sees it: a placeholder town carries the report's file name."""
    town = document.get("town") or "未知"
    if not document.get("town_found", True):
        name = Path(str(document.get("path") or "")).name
        if name and name not in town:  # the knowledge base may already name the file in the placeholder
            town += f"（{name}）"
        elif not name:
            town += "（待确认）"
    return town


def document_choices(documents: Sequence[dict]) -> list[tuple[str, str]]:
    """(label, doc_id) pairs for the document picker."""
    return [
        (f"{town_display(d)} · {d.get('title') or '无标题'} · {d.get('doc_id')}", d.get("doc_id")) for d in documents
    ]


def progress_reporter(progress: Callable) -> Callable[[str, int, int], None]:
    """An ingest ``progress(stage, done, total)`` that drives a ``gr.Progress``: per-file counts and time left.

    The bar shows e.g. "解析文档（约剩 1 分 5 秒） 120/2000 个文件".
    """
    clock = IngestProgress()

    def report(stage: str, done: int, total: int) -> None:
        status = clock.update(stage, done, total)
        left = f"（约剩 {format_seconds(status.remaining_s)}）" if status.remaining_s is not None else ""
        progress((done, max(total, 1)), desc=f"{stage}{left}", unit=status.unit or "步")

    return report


class KnowledgeBaseTab:
    """Knowledge-base handlers of :class:`assistant.app.core.AssistantApp` (a mixin: state lives on the app)."""

    def _store_upload(self, source: Path) -> tuple[str, Path | None, Path | None, str]:
        """Check one upload and copy it into the uploads folder.

        Returns:
            (sanitised name, stored path or None when refused, backup of a replaced file or
            None, reason for a refusal or "").
        """
        name = sanitize_filename(source.name)
        suffix = Path(name).suffix.lower()
        if suffix not in UPLOAD_SUFFIXES:
            allowed = " ".join(UPLOAD_SUFFIXES)
            return name, None, None, f"不支持的文件类型 {suffix or '（无扩展名）'}，仅支持 {allowed}"
        try:
            size = source.stat().st_size
        except OSError as err:
            return name, None, None, f"无法读取上传的文件：{err.strerror}"
        limit = self.settings.max_upload_mb * 1024 * 1024
        if size > limit:
            return name, None, None, f"文件过大（{size / 1048576:.1f} MB，上限 {self.settings.max_upload_mb} MB）"
        if size == 0:
            return name, None, None, "空文件"
        magic = _MAGIC.get(suffix)
        if magic:
            with source.open("rb") as handle:
                head = handle.read(8)
            if not any(head.startswith(m) for m in magic):
                kind = "Word（.docx）" if suffix == ".docx" else "PDF"
                return name, None, None, f"文件内容不是 {kind} 格式"
        self.uploads_dir.mkdir(parents=True, exist_ok=True)
        target = (self.uploads_dir / name).resolve()
        if target.parent != self.uploads_dir:
            return name, None, None, "文件名不合法"
        backup = None
        if target.exists():
            if _same_bytes(source, target):
                return name, target, None, ""
            backup = self.uploads_dir / ".replaced" / f"{uuid.uuid4().hex[:8]}-{name}"
            backup.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(str(target), str(backup))
        tmp = self.uploads_dir / f".incoming-{uuid.uuid4().hex[:8]}"
        shutil.copyfile(source, tmp)
        os.replace(tmp, target)
        return name, target, backup, ""

    def ingest_files(self, files: Sequence[str | os.PathLike] | None, progress: Callable | None = None) -> dict:
        """Check, store and index uploaded files; bad files are reported, good ones indexed.

        Args:
            files: Paths of uploaded files (their names are sanitised on copy).
            progress: ``progress(stage, done, total)``.

        Returns:
            ``{"results": [UploadResult], "report": IngestReport | None, "error": str}``.
        """
        from vectorstore.kb import IngestLocked

        results: list[UploadResult] = []
        stored: list[tuple[Path, str, Path | None]] = []
        for raw in files or []:
            name, path, backup, reason = self._store_upload(Path(str(raw)))
            if path is None:
                results.append(UploadResult(name, False, reason))
            else:
                stored.append((path, name, backup))
        if not stored:
            return {"results": results, "report": None, "error": "" if results else "请先选择要上传的报告文件"}
        writer = self._writer_assistant()
        before = {str(p): set(writer.kb.catalog.documents_at(str(p))) for p, _, _ in stored}
        try:
            report = writer.ingest([str(p) for p, _, _ in stored], progress=progress)
        except IngestLocked as err:
            for path, name, backup in stored:
                _restore(path, backup)
                results.append(UploadResult(name, False, str(err)))
            return {"results": results, "report": None, "error": str(err)}
        errors = {str(Path(e["path"]).resolve()): e["error"] for e in report.errors}
        warnings: dict[str, list[str]] = {}
        for w in report.warnings:
            warnings.setdefault(str(Path(w["path"]).resolve()), []).append(w["warning"])
        for path, name, backup in stored:
            key = str(path)
            if key in errors:
                _restore(path, backup)
                results.append(UploadResult(name, False, errors[key]))
                continue
            if backup is not None:
                backup.unlink(missing_ok=True)
            now = set(writer.kb.catalog.documents_at(key))
            if now and now != before.get(key):
                note = "；".join(warnings.get(key, []))
                results.append(UploadResult(name, True, "已导入" + (f"（提示：{note}）" if note else "")))
            elif now:
                results.append(UploadResult(name, True, "内容未变化，已跳过"))
            else:
                results.append(UploadResult(name, True, "内容与已有文档相同，已跳过"))
        self._refresh()
        return {"results": results, "report": report, "error": ""}

    def reindex(self, progress: Callable | None = None) -> dict:
        """Ingest the uploads folder again (new and changed files; unchanged ones are skipped)."""
        from vectorstore.kb import IngestLocked

        self.uploads_dir.mkdir(parents=True, exist_ok=True)
        try:
            report = self._writer_assistant().ingest([str(self.uploads_dir)], progress=progress)
        except IngestLocked as err:
            return {"results": [], "report": None, "error": str(err)}
        results = [UploadResult(Path(e["path"]).name, False, e["error"]) for e in report.errors]
        self._refresh()
        return {"results": results, "report": report, "error": ""}

    def delete_document(self, doc_id: str | None) -> str:
        """Delete one document (and its uploaded file, when it came from the uploads folder).

        Returns:
            A Chinese status message.
        """
        from vectorstore.kb import IngestLocked

        if not doc_id:
            return "请先在表格或下拉框中选择要删除的文档。"
        doc = self.document(doc_id)
        if doc is None:
            return "找不到该文档，可能已被删除。"
        try:
            removed = self._writer_assistant().kb.delete_document(doc_id)
        except IngestLocked as err:
            return str(err)
        if not removed:
            return "找不到该文档，可能已被删除。"
        path = Path(doc.get("path") or "")
        with contextlib.suppress(OSError, ValueError):
            if path.resolve().parent == self.uploads_dir:
                path.unlink(missing_ok=True)
        self._refresh()
        title = doc.get("title") or doc_id
        return f"已删除：{md_escape(doc.get('town') or '')} · {md_escape(title)}"

    def rename_town(self, doc_id: str | None, town: str | None) -> str:
        """Set the town of one document (a town the parser could not find, or a wrong one).

        Every session and the running server use the new name at once: the rename bumps the
        index generation, which each page watches.

        Returns:
            A Chinese status message.
        """
        from vectorstore.kb import IngestLocked

        town = (town or "").strip()
        if not doc_id:
            return "请先在表格或下拉框中选择要修改镇名的文档。"
        if not town:
            return "请输入镇名，例如：青石镇。"
        if len(town) > 30 or any(ch in town for ch in "<>\n\r\t/\\"):
            return "镇名不合法：请输入 30 字以内的镇、乡或街道名称。"
        doc = self.document(doc_id)
        if doc is None:
            return "找不到该文档，可能已被删除。"
        try:
            self._writer_assistant().kb.rename_town(doc_id, town)
        except IngestLocked as err:
            return str(err)
        except (KeyError, ValueError) as err:
            return f"无法修改镇名：{md_escape(str(err))}"
        self._refresh()
        return f"已将 {md_escape(town_display(doc))} 改为 **{md_escape(town)}**（所有页面即时生效）。"

    @staticmethod
    def _status_markdown(outcome: dict) -> str:
        lines = []
        if outcome.get("error"):
            lines.append(f"**{md_escape(outcome['error'])}**")
        report = outcome.get("report")
        if report is not None:
            lines.append(
                f"**导入完成**：新增/更新 {report.documents} 篇，跳过未变化 {report.skipped} 篇，"
                f"失败 {len(report.errors)} 个；知识库共 {report.total_documents} 篇文档。"
            )
        results = outcome.get("results") or []
        if results:
            lines += ["", "| 文件 | 结果 |", "| --- | --- |"]
            for r in results:
                mark = "√" if r.ok else "×"
                lines.append(f"| {_md_cell(r.name)} | {mark} {_md_cell(r.message)} |")
        return "\n".join(lines)

    def _kb_outputs(self, status: str) -> tuple:
        """Status, documents table, delete dropdown, chat town filter (after a change)."""
        docs = self.documents()
        towns = self.towns()
        return (
            status,
            document_rows(docs),
            gr.Dropdown(choices=document_choices(docs), value=None),
            gr.Dropdown(choices=towns),
        )

    def on_upload(self, files: list[str] | None, progress: gr.Progress = gr.Progress()) -> tuple:  # noqa: B008
        """UI handler: ingest uploaded files with a progress bar (Gradio injects ``progress``)."""
        outcome = self.ingest_files(files, progress=progress_reporter(progress))
        return (*self._kb_outputs(self._status_markdown(outcome)), None)

    def on_reindex(self, progress: gr.Progress = gr.Progress()) -> tuple:  # noqa: B008
        """UI handler: re-index the uploads folder (files done and time left shown as it runs)."""
        return self._kb_outputs(self._status_markdown(self.reindex(progress=progress_reporter(progress))))

    def on_delete(self, doc_id: str | None) -> tuple:
        """UI handler: delete the selected document."""
        return self._kb_outputs(self.delete_document(doc_id))

    def on_rename(self, doc_id: str | None, town: str | None) -> tuple:
        """UI handler: set the town of the selected document."""
        return self._kb_outputs(self.rename_town(doc_id, town))

    def on_refresh(self) -> tuple:
        """UI handler: reload the table."""
        return self._kb_outputs("")

    def on_select_document(self, evt: gr.SelectData) -> tuple:
        """Clicking a table row selects that document (for deletion or a new town name)."""
        row = evt.row_value or []
        doc_id = row[-1] if row else None
        doc = self.document(doc_id) if doc_id else None
        town = doc.get("town", "") if doc and doc.get("town_found", True) else ""
        return gr.Dropdown(value=doc_id), gr.Textbox(value=town)

    # --- layout ----------------------------------------------------------
    def _kb_tab(self, docs: list[dict]) -> dict[str, Any]:
        """The 知识库 tab's components (built inside the app's ``gr.Tabs``)."""
        with gr.Tab("知识库", id="kb"):
            gr.Markdown(
                f"上传报告（.txt .md .docx .pdf，可多选，每个不超过 {self.settings.max_upload_mb} MB）。"
                "镇名从报告内容中识别；识别不出的显示为“未识别镇-编号（文件名）”，可在右侧“修改镇名”中填写。"
            )
            with gr.Row(equal_height=False):
                with gr.Column(scale=2, min_width=280):
                    upload = gr.File(
                        label="选择报告文件",
                        file_count="multiple",
                        file_types=list(UPLOAD_SUFFIXES),
                        elem_id="upload",
                    )
                    ingest_btn = gr.Button("导入上传的报告", variant="primary", elem_id="ingest")
                    reindex_btn = gr.Button("重新索引上传目录", elem_id="reindex")
                with gr.Column(scale=3, min_width=280):
                    status = gr.Markdown(elem_id="kb-status")
                    delete_choice = gr.Dropdown(
                        choices=document_choices(docs),
                        value=None,
                        label="选择文档（也可点击表格中的行）",
                        elem_id="delete-choice",
                    )
                    with gr.Row(equal_height=True):
                        new_town = gr.Textbox(
                            label="镇名", placeholder="例如：青石镇", max_lines=1, scale=3, min_width=140,
                            elem_id="new-town",
                        )  # fmt: skip
                        rename_btn = gr.Button("修改镇名", scale=1, min_width=100, elem_id="rename")
                    with gr.Row():
                        delete_btn = gr.Button("删除所选文档", variant="stop", elem_id="delete")
                        refresh_btn = gr.Button("刷新列表", elem_id="refresh")
            table = gr.Dataframe(
                value=document_rows(docs),
                headers=DOC_HEADERS,
                datatype="str",
                interactive=False,
                wrap=True,
                label="已导入的文档",
                elem_id="documents",
            )
        return {
            "upload": upload, "ingest": ingest_btn, "reindex": reindex_btn, "status": status,
            "delete_choice": delete_choice, "delete": delete_btn, "refresh": refresh_btn, "table": table,
            "new_town": new_town, "rename": rename_btn,
        }  # fmt: skip

    def _wire_kb(self, k: dict[str, Any], town_filter: Any) -> tuple:
        """Events of the 知识库 tab.

        Returns:
            The upload, re-index, delete and rename events (other tabs refresh after them).
        """
        upload, ingest_btn, reindex_btn, status = k["upload"], k["ingest"], k["reindex"], k["status"]
        delete_choice, delete_btn, refresh_btn, table = k["delete_choice"], k["delete"], k["refresh"], k["table"]
        kb_out = [status, table, delete_choice, town_filter]
        uploaded = ingest_btn.click(
            self.on_upload,
            inputs=[upload],
            outputs=[*kb_out, upload],
            concurrency_limit=1,
            concurrency_id="kb-write",
            api_visibility="private",
        )
        reindexed = reindex_btn.click(
            self.on_reindex, outputs=kb_out, concurrency_limit=1, concurrency_id="kb-write",
            api_visibility="private",
        )  # fmt: skip
        deleted = delete_btn.click(
            self.on_delete, inputs=[delete_choice], outputs=kb_out, concurrency_limit=1,
            concurrency_id="kb-write", api_visibility="private",
        )  # fmt: skip
        renamed = k["rename"].click(
            self.on_rename, inputs=[delete_choice, k["new_town"]], outputs=kb_out, concurrency_limit=1,
            concurrency_id="kb-write", api_visibility="private",
        )  # fmt: skip
        refresh_btn.click(self.on_refresh, outputs=kb_out, api_visibility="private")
        table.select(self.on_select_document, outputs=[delete_choice, k["new_town"]], api_visibility="private")
        return uploaded, reindexed, deleted, renamed


def _same_bytes(a: Path, b: Path, chunk: int = 1 << 20) -> bool:
    if a.stat().st_size != b.stat().st_size:
        return False
    with a.open("rb") as fa, b.open("rb") as fb:
        while True:
            x, y = fa.read(chunk), fb.read(chunk)
            if x != y:
                return False
            if not x:
                return True


def _restore(path: Path, backup: Path | None) -> None:
    """Undo storing an upload that could not be indexed (put back the file it replaced)."""
    with contextlib.suppress(OSError):
        path.unlink(missing_ok=True)
        if backup is not None and backup.exists():
            shutil.move(str(backup), str(path))
