"""The container probe reaches /health/ by address while ALLOWED_HOSTS holds only the public name
(issue 21): production settings as shipped, DEBUG off, HTTPS redirect on."""

from __future__ import annotations

import pytest
from django.test import Client


@pytest.fixture
def production(settings) -> None:
    settings.DEBUG = False
    settings.ALLOWED_HOSTS = ["ops.example.com"]
    settings.SECURE_SSL_REDIRECT = True


def test_the_liveness_probe_by_address_is_answered(production: None, client: Client) -> None:
    for host in ("127.0.0.1:8000", "10.0.3.7", "localhost"):
        response = client.get("/health/", HTTP_HOST=host)
        assert response.status_code == 200, (host, response.status_code)
        assert response.json() == {"status": "ok"}


def test_everything_else_still_needs_an_allowed_host(production: None, client: Client) -> None:
    assert client.get("/health/ready/", HTTP_HOST="127.0.0.1:8000").status_code == 400
    assert client.get("/admin/login/", HTTP_HOST="127.0.0.1:8000").status_code == 400
    assert client.post("/health/", HTTP_HOST="127.0.0.1:8000").status_code == 400  # only GET skips the check
    # The public name goes on to the HTTPS redirect as before.
    assert client.get("/admin/login/", HTTP_HOST="ops.example.com").status_code == 301
