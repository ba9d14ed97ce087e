"""Server mode: the same code against a Chroma server on loopback, surviving a server restart."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from click.testing import CliRunner

from assistant.cli import cli
from tests.conftest import REPORTS

pytestmark = [pytest.mark.server, pytest.mark.slow]

CHROMA = Path(sys.executable).with_name("chroma")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(path: Path, port: int) -> subprocess.Popen:
    proc = subprocess.Popen(
        [str(CHROMA), "run", "--path", str(path), "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v2/heartbeat", timeout=1)
            return proc
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError("chroma server exited") from None
            time.sleep(0.3)
    proc.kill()
    raise RuntimeError("chroma server did not start")


def _stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@pytest.mark.skipif(not CHROMA.exists(), reason="chroma CLI not installed")
def test_ingest_query_restart_query(tmp_path):
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    server = _start(tmp_path / "chroma-server", port)
    runner = CliRunner()
    db = tmp_path / "db"
    try:
        result = runner.invoke(cli, ["ingest", str(REPORTS), "--db", str(db), "--chroma-url", url, "--json"])
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout)["documents"] == 5
        assert not (db / "chroma").exists()  # vectors live on the server, not in the embedded store
        before = json.loads(
            runner.invoke(
                cli, ["search", "执法力量薄弱", "--k", "8", "--db", str(db), "--chroma-url", url, "--json"]
            ).stdout
        )
        assert {"二道甸子镇", "旧院镇", "北留镇"} <= {h["town"] for h in before}
        _stop(server)
        server = _start(tmp_path / "chroma-server", port)
        after = json.loads(
            runner.invoke(
                cli, ["search", "执法力量薄弱", "--k", "8", "--db", str(db), "--chroma-url", url, "--json"]
            ).stdout
        )
        assert after == before  # nothing lost across the restart
        answer = json.loads(
            runner.invoke(cli, ["ask", "北留镇罚款多少？", "--db", str(db), "--chroma-url", url, "--json"]).stdout
        )
        assert "11.88" in answer["answer"]
    finally:
        _stop(server)
        shutil.rmtree(tmp_path / "chroma-server", ignore_errors=True)


def test_bad_chroma_url_is_a_clear_error(tmp_path):
    result = CliRunner().invoke(cli, ["search", "执法", "--db", str(tmp_path), "--chroma-url", "not-a-url"])
    assert result.exit_code != 0
    assert "Chroma 地址格式" in result.output


def test_unreachable_server_is_one_line_not_a_traceback(tmp_path):
    url = f"http://127.0.0.1:{_free_port()}"
    result = CliRunner().invoke(cli, ["ingest", str(REPORTS), "--db", str(tmp_path), "--chroma-url", url])
    assert result.exit_code == 2
    assert "Traceback" not in result.output and result.output.startswith("错误：")
