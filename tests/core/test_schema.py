from __future__ import annotations

import io

import pytest
import yaml
from django.core.management import call_command
from django.test import Client

pytestmark = pytest.mark.django_db


def test_schema_generates_without_warnings() -> None:
    out = io.StringIO()
    # --fail-on-warn turns every drf-spectacular warning (unresolvable serializer, missing
    # path parameter type, ...) into a failure.
    call_command("spectacular", "--validate", "--fail-on-warn", stdout=out)
    schema = yaml.safe_load(out.getvalue())
    assert schema["openapi"].startswith("3.")
    assert "/api/v1/sync-runs/" in schema["paths"]
    assert "/api/v1/auth/token/" in schema["paths"]


def test_schema_and_docs_are_served() -> None:
    client = Client()
    assert client.get("/api/schema/").status_code == 200
    docs = client.get("/api/docs/")
    assert docs.status_code == 200 and b"swagger" in docs.content.lower()
