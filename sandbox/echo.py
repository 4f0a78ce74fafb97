"""A minimal simulator used by the platform's own tests of the HTTP seam and the harness."""

from __future__ import annotations

from .harness import Request, Response, Simulator, json_response
from .registry import SimulatorSpec, register_simulator


class EchoSimulator(Simulator):
    name = "echo"

    def reset_state(self) -> None:
        self.state = {"seen": []}

    def setup(self) -> None:
        self.route("*", r"/echo")(self.echo)
        self.route("GET", r"/status/(?P<code>\d{3})")(self.status)
        self.route("*", r"/flaky/(?P<failures>\d+)/(?P<code>\d{3})")(self.flaky)

    def echo(self, request: Request) -> Response:
        with self.lock:
            self.state["seen"].append({"method": request.method, "query": request.query, "remote": request.remote_addr})
        return json_response({"method": request.method, "query": request.query, "headers": request.headers})

    def status(self, request: Request) -> Response:
        return json_response({"status": int(request.params["code"])}, int(request.params["code"]))

    def flaky(self, request: Request) -> Response:
        """Fails with ``code`` for the first ``failures`` calls on this path, then succeeds."""
        key = request.path
        with self.lock:
            calls = self.state.setdefault("calls", {})
            calls[key] = calls.get(key, 0) + 1
            count = calls[key]
        if count <= int(request.params["failures"]):
            return json_response({"error": "try again"}, int(request.params["code"]))
        return json_response({"ok": True, "calls": count})


register_simulator(SimulatorSpec(name="echo", factory=EchoSimulator, port_offset=99, settings={}))
