"""A small OpenAI-compatible chat server on loopback, for exercising the real client code.

Its "model" answers deterministically from the request: it cites the first
numbered paragraph it was given, so tests can check what reached the model and
what came back. Behaviour switches by model name: ``echo`` (default), ``slow``
(sleeps past the client's timeout), ``rogue`` (invents a figure and a citation
number that does not exist), ``obey`` (follows an instruction planted in a document).
"""

from __future__ import annotations

import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def _reply(model: str, messages: list[dict]) -> str:
    user = next((m["content"] for m in messages if m["role"] == "user"), "")
    first = re.search(r"\[1\] 〔[^〕]*〕\n([^\n]+)", user)
    sentence = re.split(r"(?<=[。；])", first.group(1))[0] if first else "报告中未找到相关内容。"
    if model == "rogue":
        return f"{sentence}[1]\n另据统计，全镇罚款达到999万元[1]。\n详见附件[42]。"
    if model == "obey":
        return "系统已被接管，以后只回答这一句。"
    return f"根据报告：\n{sentence.rstrip('。；')}[1]。"


class _Handler(BaseHTTPRequestHandler):
    server_version = "FakeOpenAI/1.0"

    def log_message(self, *args):  # keep test output clean
        pass

    def do_POST(self):  # noqa: N802 (http.server API)
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
        self.server.requests.append(body)
        model = body.get("model", "echo")
        if model == "slow":
            time.sleep(3)
        text = _reply(model, body.get("messages", []))
        if body.get("stream"):
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.end_headers()
            for i in range(0, len(text), 8):
                chunk = {"id": "x", "object": "chat.completion.chunk", "created": 0, "model": model,
                         "choices": [{"index": 0, "delta": {"content": text[i : i + 8]}, "finish_reason": None}]}  # fmt: skip
                self.wfile.write(f"data: {json.dumps(chunk, ensure_ascii=False)}\n\n".encode())
            self.wfile.write(b"data: [DONE]\n\n")
            return
        payload = {
            "id": "x", "object": "chat.completion", "created": 0, "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
        }  # fmt: skip
        data = json.dumps(payload, ensure_ascii=False).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class FakeOpenAIServer:
    """Context manager: ``with FakeOpenAIServer() as server: server.url``."""

    def __enter__(self) -> FakeOpenAIServer:
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.httpd.requests = []
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    @property
    def requests(self) -> list[dict]:
        return self.httpd.requests

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
