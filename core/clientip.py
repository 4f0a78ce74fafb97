"""The client's address, read one way everywhere (SPEC PLAT-4, PAY-1): login lockouts, buyer order
limits, provider sender checks and the addresses stored with webhook deliveries.

The socket's peer (``REMOTE_ADDR``) is the client unless ``TRUSTED_PROXY_COUNT`` says that many
proxies of ours stand in front. Each of them appends the address it saw to ``X-Forwarded-For``, so
the client is the N-th entry from the right; anything further left was written by the client and is
ignored. A header shorter than that, or an entry that is not an IP address, means the request did not
come through our proxies as configured: the socket's address is used.
"""

from __future__ import annotations

import ipaddress

from django.conf import settings
from django.http import HttpRequest


def client_ip(request: HttpRequest) -> str:
    remote = _valid(request.META.get("REMOTE_ADDR", "")) or ""
    hops = int(getattr(settings, "TRUSTED_PROXY_COUNT", 0) or 0)
    if hops <= 0:
        return remote
    header = request.META.get("HTTP_X_FORWARDED_FOR", "")
    entries = [entry.strip() for entry in header.split(",") if entry.strip()]
    if len(entries) < hops:
        return remote
    return _valid(entries[-hops]) or remote


def _valid(value: str) -> str | None:
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        return None
