from __future__ import annotations

import signal
import threading
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from sandbox.harness import SandboxServer
from sandbox.registry import services, simulators


class Command(BaseCommand):
    help = "Serve every sandbox simulator on 127.0.0.1 (SANDBOX_BASE_PORT + offset) until stopped."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--base-port", type=int, default=settings.SANDBOX_BASE_PORT)

    def handle(self, *args: Any, **options: Any) -> None:
        servers = []
        for spec in simulators():
            server = SandboxServer(spec.factory(), port=options["base_port"] + spec.port_offset).start()
            servers.append(server)
            self.stdout.write(f"sandbox {spec.name:<10} {server.url}  (simulated, no real money or marketplace)")
        stoppers = []
        for name, start in services().items():
            stoppers.append(start())
            self.stdout.write(f"sandbox {name:<10} started")
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        signal.signal(signal.SIGINT, lambda *_: stop.set())
        stop.wait()
        for stopper in stoppers:
            stopper()
        for server in servers:
            server.stop()
