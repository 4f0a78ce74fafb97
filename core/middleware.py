"""Middleware of the platform itself (not of a domain app)."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from . import health


class HealthCheckMiddleware:
    """Answers the liveness probe (``GET /health/``) before anything validates the Host header.

    Container and load-balancer probes call the process by its own address (``127.0.0.1:8000``,
    a pod IP), which is never in a production ``ALLOWED_HOSTS``: Django would answer 400 and the
    service would never be healthy (issue 21). Only this path, which reveals nothing but "the
    process serves requests", skips the check; ``/health/ready/`` and every other page still need
    an allowed host. First in ``MIDDLEWARE``, before SecurityMiddleware's HTTPS redirect too.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path_info == "/health/" and request.method == "GET":
            return health.live(request)
        return self.get_response(request)
