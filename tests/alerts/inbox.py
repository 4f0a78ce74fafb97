"""A local HTTP endpoint for Apprise's json:// in tests: records messages, can be told to fail."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class Inbox:
    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []
        self.fail = False
        inbox = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                if inbox.fail:
                    self.send_response(500)
                    self.end_headers()
                    return
                inbox.messages.append(json.loads(body or b"{}"))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"json://127.0.0.1:{self.server.server_address[1]}/inbox?cto=2&rto=2"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
