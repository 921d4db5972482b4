"""Stand-in slow paths for escalation tests: real HTTP servers on loopback that answer well, badly or never.

They are the other end of the wire, not the code under test: the escalation client and the CLI are.
"""

import contextlib
import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace

REPLY = "Let me add them. 40 + 2 = 42. The answer is 42."


def chat_reply(content: str) -> dict:
    return {"id": "chatcmpl-slow", "object": "chat.completion", "created": 0, "model": "big-model",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 50, "completion_tokens": 17, "total_tokens": 67}}


@contextlib.contextmanager
def slow_server(mode: str = "ok", *, content: str = REPLY) -> Iterator[SimpleNamespace]:
    """A server in `mode`: ok (a chat completion with `content`), malformed (200, not JSON), error (500),
    hang (accepts, never answers). Yields `.url` (its base URL) and `.requests` (the bodies it was sent)."""
    stop = threading.Event()

    class Handler(BaseHTTPRequestHandler):
        requests: list[dict] = []

        def log_message(self, *args) -> None:
            pass

        def _send(self, status: int, body: bytes, kind: str = "application/json") -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            if self.path == "/v1/models":
                self._send(200, json.dumps({"object": "list", "data": [{"id": "big-model"}]}).encode())
            else:
                self._send(404, b"{}")

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", 0))
            Handler.requests.append(json.loads(self.rfile.read(length)))
            if mode == "hang":
                stop.wait(30)
                return
            if mode == "malformed":
                self._send(200, b"<html>not json</html>", "text/html")
            elif mode == "error":
                self._send(500, json.dumps({"error": {"message": "out of memory"}}).encode())
            else:
                self._send(200, json.dumps(chat_reply(content)).encode())

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield SimpleNamespace(url=f"http://127.0.0.1:{server.server_address[1]}", requests=Handler.requests)
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
