"""Serving the app: login checks and throttling, exposure rules, the upload cache, launch (``python -m assistant serve``)."""

from __future__ import annotations

import argparse
import ipaddress
import json
import logging
import os
import socket
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from pathlib import Path

import gradio as gr

from assistant.app.core import PAGE_CSS, AssistantApp
from assistant.service import Assistant
from assistant.settings import Settings
from assistant.workers import worker_count

log = logging.getLogger(__name__)

AUTH_ENV = "ASSISTANT_AUTH"
CONCURRENCY_ENV = "ASSISTANT_CONCURRENCY"
# Answers run in Gradio's worker threads, off the event loop. On 2 cores 4 at once keeps both busy
# (the query embedding releases the interpreter lock, the rest does not): 30 users × 3 questions
# on the demo corpus, median p95 of 4 runs 486 / 402 / 399 / 366 ms at 1 / 2 / 4 / 8 at once.
DEFAULT_CONCURRENCY = 4
# Seconds between two queue-position updates to waiting pages. Gradio's default ("auto") sends
# every waiting event its position each time any event starts: with 30 officials asking at once
# that is hundreds of messages built (and, in a browser, sent and parsed) per wave of answers.
QUEUE_STATUS_SECONDS = 1.0

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


class LoginThrottle:
    """A growing delay after failed logins, per client address.

    After the n-th failure in a row a client's next attempt is not even checked for
    ``min(base * factor ** (n - 1), max_delay)`` seconds (it gets 429 and ``Retry-After``);
    one attempt per client is checked at a time, so parallel guesses gain nothing. With the
    defaults 200 wrong passwords take a client over 15 hours; other clients are not slowed,
    and a correct login clears the client's record.

    Args:
        base: Delay after the first failure, in seconds.
        factor: Growth of the delay with each further failure.
        max_delay: The longest delay.
        forget_after: A client's failures are forgotten this long after its last one.
        max_clients: Clients remembered at most (the oldest record goes first), so a flood of
            addresses cannot fill memory.
        clock: Seconds, monotonic (tests pass a fake one).
    """

    def __init__(
        self,
        base: float = 1.0,
        factor: float = 2.0,
        max_delay: float = 300.0,
        forget_after: float = 3600.0,
        max_clients: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.base, self.factor, self.max_delay = base, factor, max_delay
        self.forget_after, self.max_clients, self.clock = forget_after, max_clients, clock
        self._failures: OrderedDict[str, tuple[int, float]] = OrderedDict()  # client → (failures, last)
        self._checking: set[str] = set()
        self._lock = threading.Lock()

    def delay(self, failures: int) -> float:
        """Seconds a client waits after ``failures`` failures in a row."""
        return 0.0 if failures <= 0 else min(self.base * self.factor ** (failures - 1), self.max_delay)

    def retry_after(self, client: str) -> float:
        """Seconds until ``client`` may try again (0: now)."""
        with self._lock:
            return self._retry_after(client)

    def _retry_after(self, client: str) -> float:
        failures, last = self._failures.get(client, (0, 0.0))
        now = self.clock()
        if failures and now - last > self.forget_after:
            del self._failures[client]
            return 0.0
        return max(0.0, last + self.delay(failures) - now)

    def begin(self, client: str) -> float:
        """Claim a check of ``client``'s attempt: 0 when it may be checked now, else seconds to wait."""
        with self._lock:
            if client in self._checking:
                return max(self._retry_after(client), 1.0)
            wait = self._retry_after(client)
            if wait <= 0:
                self._checking.add(client)
            return wait

    def end(self, client: str, success: bool) -> None:
        """Record the outcome of an attempt claimed with :meth:`begin`."""
        with self._lock:
            self._checking.discard(client)
            if success:
                self._failures.pop(client, None)
                return
            failures, _ = self._failures.pop(client, (0, 0.0))
            self._failures[client] = (failures + 1, self.clock())
            while len(self._failures) > self.max_clients:
                self._failures.popitem(last=False)


class ThrottledLogin:
    """ASGI middleware: Gradio's ``POST /login`` passes through :class:`LoginThrottle`.

    An attempt made while its client must wait is answered 429 without checking the password.
    """

    def __init__(self, app, throttle: LoginThrottle) -> None:
        self.app, self.throttle = app, throttle

    async def __call__(self, scope, receive, send) -> None:
        path = scope.get("path", "") if scope.get("type") == "http" else ""
        if scope.get("method") != "POST" or path.rstrip("/").rsplit("/", 1)[-1] != "login":
            await self.app(scope, receive, send)
            return
        client = (scope.get("client") or ("?", 0))[0]
        wait = self.throttle.begin(client)
        if wait > 0:
            seconds = max(1, round(wait + 0.49))
            body = json.dumps({"detail": f"登录失败次数过多，请 {seconds} 秒后再试。"}, ensure_ascii=False).encode()
            headers = [(b"content-type", b"application/json; charset=utf-8"), (b"retry-after", str(seconds).encode())]
            await send({"type": "http.response.start", "status": 429, "headers": headers})
            await send({"type": "http.response.body", "body": body})
            return
        status = 0

        async def watch(message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, watch)
        finally:
            self.throttle.end(client, success=status == 200)


UPLOAD_CACHE_MAX_AGE = 3600.0  # seconds a file POSTed to Gradio's upload route is kept (ingest copies it at once)
UPLOAD_CACHE_MAX_MB = 512  # total size kept; the oldest files go first beyond it
UPLOAD_CACHE_INTERVAL = 60.0  # seconds between two cleanings


class UploadCache:
    """Gradio's cache of uploaded files, bounded by age and total size and cleaned on a schedule.

    Files POSTed to ``/gradio_api/upload`` stay in Gradio's temp folder until the server stops;
    nothing in the app needs them once an ingest has copied them to ``{db}/uploads/``. Only the
    files this app received (Gradio's ``upload_file_set``) are touched, never another app's.

    Args:
        max_age: Seconds a cached upload is kept.
        max_bytes: Total size kept (the oldest files are deleted first beyond it).
        interval: Seconds between two cleanings.
    """

    def __init__(
        self,
        max_age: float = UPLOAD_CACHE_MAX_AGE,
        max_bytes: int = UPLOAD_CACHE_MAX_MB * 1024 * 1024,
        interval: float = UPLOAD_CACHE_INTERVAL,
    ) -> None:
        self.max_age, self.max_bytes, self.interval = max_age, max_bytes, interval

    def clean(self, demo: gr.Blocks) -> int:
        """Delete what is too old or beyond the size bound; returns the number of files deleted."""
        tracked = demo.upload_file_set
        keep: set[str] = set()
        for component in demo.blocks.values():
            keep.update(getattr(component, "keep_in_cache", set()))
        files = []
        for name in list(tracked):  # a copy: uploads arrive while this runs
            try:
                stat = os.lstat(name)
            except OSError:  # removed by Gradio's own cleaner, which leaves the upload's folder behind
                tracked.discard(name)
                self._remove_folder(name)
                continue
            if name not in keep:
                files.append((stat.st_mtime, stat.st_size, name))
        now, total, deleted = time.time(), 0, 0
        for mtime, size, name in sorted(files, reverse=True):  # newest first: the oldest exceed the bound
            total += size
            if now - mtime > self.max_age or total > self.max_bytes:
                deleted += self._delete(name, tracked)
        return deleted

    @staticmethod
    def _delete(name: str, tracked: set[str]) -> int:
        tracked.discard(name)
        try:
            os.remove(name)
        except OSError:
            return 0
        UploadCache._remove_folder(name)
        return 1

    @staticmethod
    def _remove_folder(name: str) -> None:
        try:  # Gradio keeps each upload in a folder of its own (named by its hash)
            os.rmdir(os.path.dirname(name))
        except OSError:
            pass  # not empty: another upload of the same content, or not a folder of ours

    def start(self, demo: gr.Blocks) -> threading.Thread:
        """Clean every :attr:`interval` seconds while the app runs (a daemon thread; start it before launch)."""

        def run() -> None:
            served = False
            while True:
                time.sleep(self.interval)
                running = getattr(demo, "is_running", False)
                if served and not running:
                    return  # the server stopped
                served = served or running
                if not running:
                    continue
                try:
                    self.clean(demo)
                except Exception:  # a cleaning that fails must not stop the next one
                    log.exception("cleaning the upload cache failed")

        thread = threading.Thread(target=run, name="upload-cache-cleaner", daemon=True)
        thread.start()
        return thread


def concurrency_limit(environ: dict | None = None, workers: int = 0) -> int:
    """Events of one kind the server computes at once: ``$ASSISTANT_CONCURRENCY``, else the default.

    With answer workers the default is two events per worker (at least :data:`DEFAULT_CONCURRENCY`):
    one being answered in each worker while another is rendered and sent by the server, so no
    worker waits for an event slot (on 8 cores a limit of 4 left half the workers idle).
    """
    value = (environ if environ is not None else os.environ).get(CONCURRENCY_ENV, "").strip()
    try:
        return max(1, int(value)) if value else max(DEFAULT_CONCURRENCY, 2 * workers)
    except ValueError:
        raise ValueError(f"{CONCURRENCY_ENV} 应为正整数，而不是 {value!r}") from None


def launch_app(
    assistant: Assistant,
    host: str = "127.0.0.1",
    port: int = 7860,
    share: bool = False,
    auth: list[tuple[str, str]] | None = None,
    block: bool = True,
    quiet: bool = False,
    throttle: LoginThrottle | None = None,
    upload_cache: UploadCache | None = None,
    concurrency: int | None = None,
    workers: int | None = None,
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
        throttle: The delay after failed logins (default :class:`LoginThrottle`).
        upload_cache: Bounds of Gradio's upload cache (default :class:`UploadCache`).
        concurrency: Events of one kind computed at once (default :func:`concurrency_limit`).
        workers: Answer worker processes (default :func:`assistant.workers.worker_count`; 0:
            answers are computed in this process).

    Returns:
        The launched Blocks (``.local_url``; stop it with ``.close()``).

    Raises:
        ExposureError: Exposed without a login (see :func:`check_exposure`).
    """
    check_exposure(host, share, auth)
    app = AssistantApp(assistant)
    workers = worker_count() if workers is None else workers
    if workers and not app.start_workers(workers):  # forked before this process embeds anything or opens Chroma
        workers = 0
    seconds = app.warm_up()
    log.info("models and index loaded in %.1f s", seconds)
    demo = app.build()
    demo.queue(
        status_update_rate=QUEUE_STATUS_SECONDS,
        default_concurrency_limit=concurrency or concurrency_limit(workers=workers),
    )
    cache = upload_cache or UploadCache()
    # Gradio's own clean-up: the same age bound, and every cached upload deleted when the server stops.
    demo.delete_cache = (max(1, int(cache.interval)), max(1, int(cache.max_age)))
    # The middleware must be in place before the server starts, so the app object is made here.
    from gradio.routes import App, ORJSONResponse

    server_app = App(default_response_class=ORJSONResponse)
    server_app.add_middleware(ThrottledLogin, throttle=throttle or LoginThrottle())
    cache.start(demo)
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
        _app=server_app,
    )
    pool = app.pool
    if pool is not None:
        stop = demo.close

        def close(*args, **kwargs):  # stopping the server stops its answer workers
            try:
                return stop(*args, **kwargs)
            finally:
                pool.close()

        demo.close = close
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
        demo = launch_app(Assistant(settings), host=host, port=port, share=share, auth=auth, block=True)
    except OSError as err:  # e.g. the port is taken
        raise ValueError(f"无法在 {host}:{port} 启动服务：{err}") from err
    answers = getattr(getattr(demo, "assistant_app", None), "answers", None)
    if answers is not None:  # on stopping: how much the answer cache spared (benchmarks.load reads this line)
        print(f"回答缓存：复用 {answers.hits} 次，计算 {answers.misses} 次", file=sys.stderr, flush=True)


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
