"""Stand-in slow paths for escalation tests: real HTTP servers on loopback that answer well, badly or never.

They are the other end of the wire, not the code under test: the escalation client, the CLI and the cascade
benchmark are.
"""

import contextlib
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace

REPLY = "Let me add them. 40 + 2 = 42. The answer is 42."
MODES = ("ok", "malformed", "no-choices", "error", "busy", "hang", "trickle", "no-usage")


def chat_reply(content: str, *, usage: bool = True) -> dict:
    reply = {"id": "chatcmpl-slow", "object": "chat.completion", "created": 0, "model": "big-model",
             "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}]}
    if usage:
        reply["usage"] = {"prompt_tokens": 50, "completion_tokens": 17, "total_tokens": 67}
    return reply


@contextlib.contextmanager
def slow_server(mode: str = "ok", *, content: str | Callable[[dict], str | None] = REPLY,
                models: bool = True) -> Iterator[SimpleNamespace]:
    """A server in `mode`: ok (a chat completion with `content`), malformed (200, not JSON), no-choices (200, JSON
    without choices), error (500), busy (503 "queue full"), hang (accepts, never answers), trickle (headers, then a
    byte every 0.2 s), no-usage (ok without `usage`). `content` may be a function of the request body (None: that
    request gets a 500). `models=False`: `GET /v1/models` is a 404 (a server that lists nothing).
    Yields `.url` (its base URL), `.requests` (the bodies it was sent) and `.auth` (their Authorization headers)."""
    assert mode in MODES, mode
    stop = threading.Event()
    requests: list[dict] = []
    auth: list[str | None] = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

        def _send(self, status: int, body: bytes, kind: str = "application/json") -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            if self.path == "/v1/models" and models:
                self._send(200, json.dumps({"object": "list", "data": [{"id": "big-model"}]}).encode())
            else:
                self._send(404, b"{}")

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", 0))
            body = json.loads(self.rfile.read(length))
            requests.append(body)
            auth.append(self.headers.get("Authorization"))
            text = content(body) if callable(content) else content
            if mode == "hang":
                stop.wait(30)
            elif mode == "trickle":
                self._trickle()
            elif mode == "malformed":
                self._send(200, b"<html>not json</html>", "text/html")
            elif mode == "no-choices":
                self._send(200, json.dumps({"object": "chat.completion", "choices": []}).encode())
            elif mode == "busy":
                self._send(503, json.dumps({"error": {"message": "queue full", "type": "server_busy"}}).encode())
            elif mode == "error" or text is None:
                self._send(500, json.dumps({"error": {"message": "out of memory"}}).encode())
            else:
                self._send(200, json.dumps(chat_reply(text, usage=mode != "no-usage")).encode())

        def _trickle(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", "10000")
            self.end_headers()
            with contextlib.suppress(OSError):
                while not stop.is_set():
                    self.wfile.write(b" ")
                    self.wfile.flush()
                    time.sleep(0.2)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield SimpleNamespace(url=f"http://127.0.0.1:{server.server_address[1]}", requests=requests, auth=auth)
    finally:
        stop.set()
        server.shutdown()
        server.server_close()


def dead_url() -> str:
    """A loopback URL where nothing listens (a port just freed)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"
