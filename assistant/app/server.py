"""Serving the app: login checks, exposure rules, launch (``python -m assistant serve``)."""

from __future__ import annotations

import argparse
import ipaddress
import logging
import os
import socket
from collections.abc import Sequence
from pathlib import Path

import gradio as gr

from assistant.app.core import PAGE_CSS, AssistantApp
from assistant.service import Assistant
from assistant.settings import Settings

log = logging.getLogger(__name__)

AUTH_ENV = "ASSISTANT_AUTH"
DEFAULT_CONCURRENCY = 4

APP_CSS = """
.app-header h1 { margin-bottom: 0.2em; }
.app-header p { margin-top: 0; color: var(--body-text-color-subdued); }
#citation-panel .cite-card { border: 1px solid var(--border-color-primary); border-radius: 8px;
  padding: 12px 14px; background: var(--background-fill-secondary); }
#citation-panel .cite-label { font-weight: 600; margin-bottom: 6px; }
#citation-panel .cite-path { font-size: 0.9em; color: var(--body-text-color-subdued); margin-bottom: 8px; }
#citation-panel .cite-text { white-space: pre-wrap; line-height: 1.7; margin: 0 0 10px 0; padding-left: 10px;
  border-left: 3px solid var(--color-accent); overflow-wrap: anywhere; }
#citation-panel mark { background: #ffe58a; color: #222; padding: 0 2px; border-radius: 2px; }
#citation-panel .cite-doc { font-size: 0.9em; display: grid; grid-template-columns: max-content 1fr;
  gap: 2px 10px; margin: 0; }
#citation-panel .cite-doc dt { color: var(--body-text-color-subdued); }
#citation-panel .cite-doc dd { margin: 0; overflow-wrap: anywhere; }
#citation-panel .cite-empty { color: var(--body-text-color-subdued); padding: 8px 0; }
#citations label { white-space: normal; text-align: left; }
/* Gradio scopes rules inside @media to the app's content, so the page padding shrinks with the
   viewport here instead: 32 px on a desktop, about 8 px on a 390 px phone. */
.gradio-container .main.app { padding-left: clamp(6px, 6vw - 16px, 32px) !important;
  padding-right: clamp(6px, 6vw - 16px, 32px) !important; }
@media (max-width: 640px) {
  #chatbot { height: 52vh !important; min-height: 300px; }
  .app-header p { display: none; }
}
"""


def parse_auth(text: str) -> list[tuple[str, str]]:
    """Parse ``user:password`` lines (blank lines and ``#`` comments ignored).

    Raises:
        ValueError: A line without ``:``, or an empty user or password.
    """
    pairs = []
    for n, raw in enumerate((text or "").splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        user, sep, password = line.partition(":")
        if not sep or not user.strip() or not password:
            raise ValueError(f"登录信息第 {n} 行格式应为 用户名:密码")
        pairs.append((user.strip(), password))
    return pairs


def load_auth(auth_file: str | None = None, environ: dict | None = None) -> list[tuple[str, str]] | None:
    """Logins from ``--auth-file`` or ``$ASSISTANT_AUTH`` (``user:pass``); None when neither is set."""
    if auth_file:
        try:
            text = Path(auth_file).read_text(encoding="utf-8")
        except OSError as err:
            raise ValueError(f"无法读取登录文件 {auth_file}：{err.strerror or err}") from None
        pairs = parse_auth(text)
        if not pairs:
            raise ValueError(f"登录文件 {auth_file} 中没有 用户名:密码")
        return pairs
    value = (environ if environ is not None else os.environ).get(AUTH_ENV, "")
    if value.strip():
        return parse_auth(value.strip())
    return None


def is_loopback(host: str) -> bool:
    """True for addresses only this machine can reach (127.0.0.0/8, ::1, localhost)."""
    host = (host or "").strip().strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def build_app(assistant: Assistant) -> gr.Blocks:
    """The Gradio app for an assistant (not launched).

    Args:
        assistant: A loaded :class:`assistant.service.Assistant`.

    Returns:
        The Blocks; ``demo.assistant_app`` is the :class:`AssistantApp` behind it.
    """
    return AssistantApp(assistant).build()


class ExposureError(ValueError):
    """Serving beyond this machine was requested without a login."""


def check_exposure(host: str, share: bool, auth: list[tuple[str, str]] | None) -> None:
    """Refuse to expose the app beyond this machine without a login.

    Raises:
        ExposureError: ``host`` is not a loopback address (or ``share`` is on) and no login is set.
    """
    if (share or not is_loopback(host)) and not auth:
        where = "公网分享链接" if share else f"地址 {host} "
        raise ExposureError(
            f"拒绝在{where}上无登录开放服务：请用 --auth-file 指定登录文件（每行 用户名:密码），"
            f"或设置环境变量 {AUTH_ENV}=用户名:密码；仅本机访问请使用 --host 127.0.0.1。"
        )


def launch_app(
    assistant: Assistant,
    host: str = "127.0.0.1",
    port: int = 7860,
    share: bool = False,
    auth: list[tuple[str, str]] | None = None,
    block: bool = True,
    quiet: bool = False,
) -> gr.Blocks:
    """Warm up, build and launch the app.

    Args:
        assistant: The assistant (loaded once here).
        host: Address to bind (127.0.0.1 by default).
        port: Port to bind.
        share: Create a public Gradio link (needs ``auth``).
        auth: ``[(user, password)]``; required unless ``host`` is loopback and ``share`` is off.
        block: Block the calling thread until the server stops (False: return the running app).
        quiet: Do not print the URL.

    Returns:
        The launched Blocks (``.local_url``; stop it with ``.close()``).

    Raises:
        ExposureError: Exposed without a login (see :func:`check_exposure`).
    """
    check_exposure(host, share, auth)
    app = AssistantApp(assistant)
    seconds = app.warm_up()
    log.info("models and index loaded in %.1f s", seconds)
    demo = app.build()
    demo.queue(default_concurrency_limit=DEFAULT_CONCURRENCY)
    demo.launch(
        server_name=host,
        server_port=port,
        share=share,
        auth=auth or None,
        auth_message="请输入用户名和密码" if auth else None,
        allowed_paths=[str(app.export_dir)],
        blocked_paths=[str(Path(assistant.settings.db).resolve())],
        max_file_size=f"{assistant.settings.max_upload_mb}mb",
        prevent_thread_lock=not block,
        quiet=quiet,
        show_error=False,
        footer_links=[],
        run_history=False,
        ssr_mode=False,
        mcp_server=False,
        css=APP_CSS + PAGE_CSS,
    )
    return demo


def serve(
    settings: Settings,
    host: str = "127.0.0.1",
    port: int = 7860,
    share: bool = False,
    auth_file: str | None = None,
) -> None:
    """Run the app until interrupted (``python -m assistant serve``).

    Args:
        settings: Runtime configuration (``settings.db`` is the knowledge base).
        host: Address to bind; anything but loopback needs a login.
        port: Port to bind.
        share: Create a public Gradio link (needs a login).
        auth_file: File of ``user:password`` lines; else ``$ASSISTANT_AUTH``.

    Raises:
        ExposureError: Exposed without a login (a ``ValueError``).
        ValueError: A malformed login file.
    """
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    auth = load_auth(auth_file)
    check_exposure(host, share, auth)
    _check_port_free(host, port)
    try:
        launch_app(Assistant(settings), host=host, port=port, share=share, auth=auth, block=True)
    except OSError as err:  # e.g. the port is taken
        raise ValueError(f"无法在 {host}:{port} 启动服务：{err}") from err


def _check_port_free(host: str, port: int) -> None:
    """Fail fast (before models load) when the port is already taken."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((host, port))
        except OSError as err:
            raise ValueError(f"无法在 {host}:{port} 启动服务：端口已被占用或地址不可用（{err.strerror}）") from None


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m assistant.app [--db DIR] [--host H] [--port P] [--share] [--auth-file F]``."""
    parser = argparse.ArgumentParser(prog="python -m assistant.app", description="镇级报告问答助手（浏览器界面）")
    parser.add_argument("--db", default=None, help="知识库目录（默认 .assistant/ 或 $ASSISTANT_DB）")
    parser.add_argument("--host", default="127.0.0.1", help="监听地址（默认 127.0.0.1，仅本机）")
    parser.add_argument("--port", type=int, default=7860, help="端口（默认 7860）")
    parser.add_argument("--share", action="store_true", help="创建公网分享链接（需要登录）")
    parser.add_argument("--auth-file", default=None, help="登录文件，每行 用户名:密码")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        serve(Settings.from_env(db=args.db), host=args.host, port=args.port, share=args.share, auth_file=args.auth_file)
    except (ValueError, OSError) as err:
        raise SystemExit(f"错误：{err}") from None
