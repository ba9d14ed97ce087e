"""Many officials at once: simulated users asking through the running app's HTTP API.

Each simulated user is one Gradio session (its own ``session_hash``, so its conversation is its
own) that asks its questions one after another through ``POST /gradio_api/call/ask`` and reads
the answer from the event stream, as a browser's chat would. All users start together. After
the load, one user alone asks every question sequence the users asked: each loaded answer must
equal the single-user answer of its question (asked after, so the load meets no warm cache).

Run against an app that is already serving (``python -m benchmarks.load http://127.0.0.1:7860/``),
or from :func:`benchmarks.run.run_bench` (``load_*`` fields) and the load test.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from benchmarks.measure import _percentile, _round

ASK_MODE = "问答"
DEFAULT_USERS = 30
DEFAULT_PER_USER = 3


class LoadError(RuntimeError):
    """A request that did not end in an answer (HTTP error, error event, closed stream)."""


@dataclass
class LoadResult:
    """What a load run measured.

    Attributes:
        users: Simulated users.
        per_user: Questions each user asked.
        latencies_ms: One per answered question (question sent → answer received).
        errors: One line per question that got no answer.
        mismatches: Questions whose loaded answer differs from the single-user answer.
        wall_s: Seconds from the first question to the last answer under load.
    """

    users: int
    per_user: int
    latencies_ms: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    mismatches: list[str] = field(default_factory=list)
    wall_s: float = 0.0

    def summary(self) -> dict:
        """The ``load_*`` fields of the benchmark result."""
        lat = self.latencies_ms
        return {
            "load_users": self.users,
            "load_questions_per_user": self.per_user,
            "load_answers": len(lat),
            "load_p50_ms": _round(_percentile(lat, 50)),
            "load_p95_ms": _round(_percentile(lat, 95)),
            "load_max_ms": _round(max(lat)) if lat else None,
            "load_errors": len(self.errors),
            "load_mismatches": len(self.mismatches),
            "load_wall_s": _round(self.wall_s, 2),
            "load_answers_per_s": _round(len(lat) / self.wall_s if self.wall_s else None, 1),
        }


def reply_text(messages: Sequence[dict]) -> str:
    """The text of the last chatbot message (a string, or a list of ``{"text"}`` parts)."""
    if not messages:
        return ""
    content = messages[-1].get("content", "")
    if isinstance(content, str):
        return content
    return "".join(part.get("text", "") for part in content if isinstance(part, dict))


class AppClient:
    """One browser-like session of the app, speaking Gradio's HTTP API over one connection.

    Args:
        url: The app's address, e.g. ``http://127.0.0.1:7860/``.
        timeout: Seconds a request may take.
    """

    def __init__(self, url: str, timeout: float = 120.0) -> None:
        parts = urlsplit(url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.prefix = parts.path.rstrip("/")
        self.timeout = timeout
        self.session_hash = uuid.uuid4().hex[:11]
        self._conn: http.client.HTTPConnection | None = None

    def _request(self, method: str, path: str, body: dict | None = None) -> http.client.HTTPResponse:
        for attempt in (0, 1):  # a kept-alive connection the server closed is opened again once
            if self._conn is None:
                self._conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
            data = json.dumps(body, ensure_ascii=False).encode() if body is not None else None
            headers = {"Content-Type": "application/json"} if data is not None else {}
            try:
                self._conn.request(method, self.prefix + path, body=data, headers=headers)
                return self._conn.getresponse()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.close()
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def ask(self, question: str, towns: Sequence[str] = (), mode: str = ASK_MODE) -> str:
        """Ask in this session; returns the answer's chat text.

        Raises:
            LoadError: The app answered with an error or not at all.
        """
        response = self._request(
            "POST", "/gradio_api/call/ask", {"data": [question, list(towns), mode], "session_hash": self.session_hash}
        )
        payload = response.read()
        if response.status != 200:
            raise LoadError(f"HTTP {response.status}: {payload[:200]!r}")
        event_id = json.loads(payload)["event_id"]
        response = self._request("GET", f"/gradio_api/call/ask/{event_id}")
        if response.status != 200:
            raise LoadError(f"HTTP {response.status} on the event stream")
        event = ""
        for raw in response:  # server-sent events: "event: …" then "data: …"
            line = raw.decode("utf-8").rstrip("\n")
            if line.startswith("event:"):
                event = line[6:].strip()
            elif line.startswith("data:") and event in ("complete", "error"):
                data = json.loads(line[5:].strip() or "null")
                response.read()  # drain, so the connection can be reused
                if event == "error":
                    raise LoadError(f"error event: {str(data)[:200]}")
                return reply_text(data[0])
        raise LoadError("the event stream ended without an answer")

    def close(self) -> None:
        """Close the connection."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def sequences(questions: Sequence[str], per_user: int) -> list[tuple[str, ...]]:
    """Split the questions into consecutive sequences of ``per_user`` (the last one wraps around).

    >>> sequences(["a", "b", "c", "d"], 3)
    [('a', 'b', 'c'), ('d', 'a', 'b')]
    """
    if not questions or per_user < 1:
        raise ValueError("need at least one question and per_user >= 1")
    count = -(-len(questions) // per_user)
    return [tuple(questions[(i * per_user + j) % len(questions)] for j in range(per_user)) for i in range(count)]


def _ask_all(url: str, questions: Sequence[str], timeout: float) -> list[str]:
    client = AppClient(url, timeout)
    try:
        return [client.ask(question) for question in questions]
    finally:
        client.close()


def run_load(
    url: str,
    questions: Sequence[str],
    users: int = DEFAULT_USERS,
    per_user: int = DEFAULT_PER_USER,
    timeout: float = 120.0,
    before_reference: Callable[[], None] | None = None,
) -> LoadResult:
    """``users`` sessions asking ``per_user`` questions each at once, then single-user reference answers.

    User ``i`` asks sequence ``i % len(sequences)`` of :func:`sequences`, in a session of its own.

    Args:
        url: The running app.
        questions: Question pool (at least one).
        users: Simulated users.
        per_user: Questions per user.
        timeout: Seconds one request may take.
        before_reference: Called between the load and the reference answers (the server then
            forgets the answers it remembered, so the reference answers are computed afresh).

    Returns:
        The measured :class:`LoadResult`.
    """
    seqs = sequences(questions, per_user)
    result = LoadResult(users=users, per_user=per_user)
    got: dict[tuple[int, int], str] = {}
    lock = threading.Lock()
    start_together = threading.Barrier(users)

    def user(i: int) -> None:
        client = AppClient(url, timeout)
        start_together.wait()
        try:
            for j, question in enumerate(seqs[i % len(seqs)]):
                t = time.perf_counter()
                try:
                    answer = client.ask(question)
                except Exception as err:  # noqa: BLE001 - every failure is one counted error
                    with lock:
                        result.errors.append(f"user {i}: {question}: {type(err).__name__}: {err}")
                    continue
                with lock:
                    result.latencies_ms.append((time.perf_counter() - t) * 1000)
                    got[i, j] = answer
        finally:
            client.close()

    threads = [threading.Thread(target=user, args=(i,), name=f"load-user-{i}") for i in range(users)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    result.wall_s = time.perf_counter() - start
    if before_reference is not None:
        before_reference()
    reference = [_ask_all(url, seq, timeout) for seq in seqs[: min(users, len(seqs))]]
    for (i, j), answer in sorted(got.items()):
        if answer != reference[i % len(seqs)][j]:
            result.mismatches.append(f"user {i}: {seqs[i % len(seqs)][j]}")
    return result


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def serve_and_load(
    assistant, questions: Sequence[str], users: int = DEFAULT_USERS, per_user: int = DEFAULT_PER_USER
) -> dict:
    """Serve the assistant's app on loopback in this process and load it from another one.

    The simulated users run in a child process (``python -m benchmarks.load``), so their own
    work does not compete with the server for this process's interpreter lock, as browsers on
    other machines would not.

    Args:
        assistant: A loaded :class:`assistant.service.Assistant` (the app shares it).
        questions: Question pool.
        users: Simulated users.
        per_user: Questions per user.

    Returns:
        The ``load_*`` summary plus ``load_error_samples`` and ``load_mismatch_samples`` (up to 5 each).

    Raises:
        RuntimeError: The load process failed.
    """
    from assistant.app.server import launch_app

    demo = launch_app(assistant, host="127.0.0.1", port=_free_port(), block=False, quiet=True)
    root = Path(__file__).resolve().parents[1]
    with tempfile.TemporaryDirectory(prefix="bench-load-") as folder:
        pool = Path(folder) / "questions.jsonl"
        pool.write_text("".join(json.dumps({"question": q}, ensure_ascii=False) + "\n" for q in questions), "utf-8")
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")]))}
        command = [sys.executable, "-m", "benchmarks.load", demo.local_url, "--users", str(users),
                   "--per-user", str(per_user), "--questions", str(pool), "--pause"]  # fmt: skip
        app = getattr(demo, "assistant_app", None)
        pool = getattr(app, "pool", None)
        cache = getattr(app, "answers", None)
        remembered = {"before": cache.hits if cache is not None else 0}

        def forget() -> None:  # the reference answers are computed afresh, not recalled from the load
            if cache is not None:
                remembered["load"] = cache.hits - remembered["before"]
                cache.clear()

        memory = MemorySampler(pool.pids if pool is not None else tuple)
        try:
            with memory:
                returncode, out, err = _run_paused(command, env, root, forget)
        finally:
            demo.close()
    if returncode != 0:
        raise RuntimeError(f"load run failed: {err.strip()[-500:]}")
    summary = json.loads(out.strip().splitlines()[-1])
    summary["load_answers_remembered"] = remembered.get("load", 0)
    summary["load_workers"] = pool.size if pool is not None else 0
    summary.update(memory.summary())
    summary["load_error_samples"] = summary.pop("errors")
    summary["load_mismatch_samples"] = summary.pop("mismatches")
    return summary


PAUSED = "paused before the reference answers"


def memory_kb(pid: int) -> tuple[int, int]:
    """(PSS, USS) of a process in KiB from ``/proc/PID/smaps_rollup``; (0, 0) where unreadable.

    PSS charges each shared page to its sharers in equal parts, so the PSS of a server and its
    forked answer workers adds up to what they hold together (their RSS counts shared pages once
    per process); USS is each one's private pages.
    """
    pss = uss = 0
    try:
        with open(f"/proc/{pid}/smaps_rollup", encoding="ascii") as handle:
            for line in handle:
                key, _, rest = line.partition(":")
                if key == "Pss":
                    pss = int(rest.split()[0])
                elif key in ("Private_Clean", "Private_Dirty"):
                    uss += int(rest.split()[0])
    except (OSError, ValueError, IndexError):
        return 0, 0
    return pss, uss


class MemorySampler:
    """Peak summed PSS and USS of this process and the app's answer workers, sampled in a thread.

    Args:
        pids: Returns the process ids to add to this one's (the answer workers).
        interval: Seconds between samples.
    """

    def __init__(self, pids: Callable[[], Sequence[int]], interval: float = 0.2) -> None:
        self.pids, self.interval = pids, interval
        self.pss_kb = self.uss_kb = self.processes = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="load-memory", daemon=True)

    def sample(self) -> None:
        """Take one sample now."""
        pids = [os.getpid(), *self.pids()]
        pairs = [memory_kb(pid) for pid in pids]
        self.pss_kb = max(self.pss_kb, sum(p for p, _ in pairs))
        self.uss_kb = max(self.uss_kb, sum(u for _, u in pairs))
        self.processes = max(self.processes, sum(1 for p, _ in pairs if p))

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()

    def __enter__(self) -> MemorySampler:
        self.sample()
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.sample()

    def summary(self) -> dict:
        """``load_pss_mb``, ``load_uss_mb`` (peaks, None where ``/proc`` is missing) and ``load_processes``."""
        return {
            "load_pss_mb": _round(self.pss_kb / 1024) if self.pss_kb else None,
            "load_uss_mb": _round(self.uss_kb / 1024) if self.uss_kb else None,
            "load_processes": self.processes or None,
        }


def _run_paused(command: list[str], env: dict, cwd: Path, between: Callable[[], None]) -> tuple[int, str, str]:
    """Run the load process; when it says :data:`PAUSED`, call ``between`` and let it go on.

    Returns:
        (return code, standard output, standard error).
    """
    with tempfile.TemporaryFile("w+", encoding="utf-8") as errors:
        child = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=errors,
                                 text=True, env=env, cwd=cwd)  # fmt: skip
        lines = []
        try:
            for line in child.stdout:
                if line.strip() == PAUSED:
                    between()
                    child.stdin.write("\n")
                    child.stdin.flush()
                else:
                    lines.append(line)
            child.wait(timeout=900)
        finally:
            if child.poll() is None:
                child.kill()
                child.wait()
        errors.seek(0)
        return child.returncode, "".join(lines), errors.read()


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m benchmarks.load URL [--users N] [--per-user M] [--questions FILE.jsonl]``: print the JSON summary."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.load", description="并发用户压测（经应用的 HTTP 接口）")
    parser.add_argument("url", help="应用地址，如 http://127.0.0.1:7860/")
    parser.add_argument("--users", type=int, default=DEFAULT_USERS)
    parser.add_argument("--per-user", type=int, default=DEFAULT_PER_USER)
    parser.add_argument("--questions", required=True, help="JSONL 文件，每行含 question")
    parser.add_argument("--pause", action="store_true", help="压测后、单用户参照回答前打印一行并等待标准输入的一行")
    args = parser.parse_args(argv)
    with open(args.questions, encoding="utf-8") as handle:
        pool = [json.loads(line)["question"] for line in handle if line.strip()]

    def pause() -> None:
        print(PAUSED, flush=True)
        sys.stdin.readline()

    result = run_load(args.url, pool, users=args.users, per_user=args.per_user,
                      before_reference=pause if args.pause else None)  # fmt: skip
    print(json.dumps({**result.summary(), "errors": result.errors[:5], "mismatches": result.mismatches[:5]},
                     ensure_ascii=False))  # fmt: skip


if __name__ == "__main__":
    main()
