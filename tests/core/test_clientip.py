"""One rule for the client's address (SPEC PLAT-4): the socket, or the trusted proxies' header."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.test import RequestFactory

from core.clientip import client_ip

ROOT = Path(__file__).resolve().parents[2]
READS_ADDRESS = re.compile(r"[\"']REMOTE_ADDR[\"']|HTTP_X_FORWARDED_FOR|headers\.get\([\"']X-Forwarded")
APPS = ["core", "config", "payments", "vending", "marketplaces", "repricer", "poster_sync"]


def _ip(remote: str = "127.0.0.1", forwarded: str | None = None) -> str:
    extra = {"REMOTE_ADDR": remote}
    if forwarded is not None:
        extra["HTTP_X_FORWARDED_FOR"] = forwarded
    return client_ip(RequestFactory().get("/", **extra))


def test_without_a_trusted_proxy_the_socket_is_the_client(settings) -> None:
    settings.TRUSTED_PROXY_COUNT = 0
    assert _ip("198.51.100.1", "185.71.76.10") == "198.51.100.1"


@pytest.mark.parametrize(
    ("hops", "forwarded", "expected"),
    [
        (1, "185.71.76.10", "185.71.76.10"),
        (1, "6.6.6.6, 198.51.100.7", "198.51.100.7"),  # the client's own entry on the left is ignored
        (2, "6.6.6.6, 198.51.100.7, 10.1.2.3", "198.51.100.7"),
        (2, "198.51.100.7", "127.0.0.1"),  # fewer entries than proxies: not through them, use the socket
        (1, "not-an-address", "127.0.0.1"),
        (1, "", "127.0.0.1"),
        (1, " 2001:db8::1 ", "2001:db8::1"),
    ],
)
def test_behind_trusted_proxies_the_nth_entry_from_the_right(settings, hops, forwarded, expected) -> None:
    settings.TRUSTED_PROXY_COUNT = hops
    assert _ip("127.0.0.1", forwarded) == expected


def test_no_other_code_reads_the_address_itself() -> None:
    readers = []
    for app in APPS:
        for path in (ROOT / app).rglob("*.py"):
            if path.name == "clientip.py" or "migrations" in path.parts:
                continue
            if READS_ADDRESS.search(path.read_text()):
                readers.append(str(path.relative_to(ROOT)))
    assert readers == []
