"""The cabinet login in real Chromium against the sandbox's login pages (API_CONTRACTS.md "Kaspi.kz")."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.db import connection

from marketplaces.kaspi.clients.login import NO_BROWSER
from marketplaces.kaspi.models import KaspiProduct, KaspiStore, SessionState
from marketplaces.kaspi.services import products as products_service
from marketplaces.kaspi.services import session as session_service
from marketplaces.kaspi.services import stores as stores_service
from sandbox.kaspi import SANDBOX_PASSWORD, SMS_EMAIL
from tests.e2e.conftest import chromium_path
from tests.support.concurrency import at_once

pytestmark = pytest.mark.e2e


@pytest.fixture(autouse=True)
def chromium(settings: Any) -> str:
    from core.embedded import CHROMIUM_MISSING

    path = chromium_path()
    if path is None:
        pytest.skip(CHROMIUM_MISSING)  # as every browser test (README "make test"): says what to install
    settings.CHROMIUM_EXECUTABLE = path
    return path


def _raw_column(store: KaspiStore, column: str) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {column} FROM marketplaces_kaspistore WHERE id = %s", [store.pk])
        return str(cursor.fetchone()[0])


def test_login_in_chromium_stores_encrypted_session_cookies(
    kaspi: Callable[..., Any], make_store: Any, caplog: Any
) -> None:
    sim = kaspi()
    store = make_store(merchant_uid="")
    caplog.set_level(logging.DEBUG)

    store = session_service.session_login(store=store)

    assert store.session_state == SessionState.OK
    assert store.merchant_uid == "30100001"  # learnt from /s/m
    cookies = {c["name"]: c["value"] for c in json.loads(str(store.session_cookies))}
    assert set(cookies) >= {"mc-session", "mc-sid"}
    assert sim.logins == 1
    raw = _raw_column(store, "session_cookies")
    assert cookies["mc-session"] not in raw and "mc-session" not in raw  # encrypted at rest
    # The cookies work: the cabinet accepts them without another login.
    assert session_service.cabinet_client(store).session_probe() == ["30100001"]
    for secret in (SANDBOX_PASSWORD, cookies["mc-session"], cookies["mc-sid"]):
        assert secret not in caplog.text


@pytest.mark.parametrize(
    ("email", "password", "reason"),
    [
        ("demo@sandbox.kaspi.kz", "not-the-password", "wrong e-mail or password"),
        (SMS_EMAIL, SANDBOX_PASSWORD, "SMS code required"),
    ],
)
def test_failed_login_needs_relogin_with_a_screenshot(
    kaspi: Callable[..., Any], make_store: Any, email: str, password: str, reason: str, settings: Any
) -> None:
    sim = kaspi()
    store = make_store(cabinet_email=email, cabinet_password=password, merchant_uid="")

    with pytest.raises(session_service.SessionUnavailable):
        session_service.session_login(store=store)

    store.refresh_from_db()
    assert store.session_state == SessionState.NEEDS_RELOGIN
    assert reason in store.session_reason
    shot = Path(settings.MEDIA_ROOT) / store.session_screenshot.name
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sim.logins == 0
    # Never retried by itself: the next job that needs the cabinet does not start a browser.
    attempts = sim.state["login_attempts"]
    with pytest.raises(session_service.SessionUnavailable):
        session_service.session_ensure(store=store)
    assert sim.state["login_attempts"] == attempts


def test_a_changed_login_page_needs_relogin_and_says_which_field_is_missing(
    kaspi: Callable[..., Any], make_store: Any
) -> None:
    sim = kaspi()
    with sim.lock:
        sim.state["changed_page"] = True
    store = make_store()
    with pytest.raises(session_service.SessionUnavailable):
        session_service.session_login(store=store)
    store.refresh_from_db()
    assert store.session_state == SessionState.NEEDS_RELOGIN
    assert "#user_email_field" in store.session_reason
    assert store.session_screenshot


def test_log_in_now_after_fixing_the_password_brings_the_store_back(kaspi: Callable[..., Any], make_store: Any) -> None:
    sim = kaspi()
    store = make_store(cabinet_password="wrong")
    with pytest.raises(session_service.SessionUnavailable):
        session_service.session_login(store=store)
    store = stores_service.store_update(store=KaspiStore.objects.get(pk=store.pk), cabinet_password=SANDBOX_PASSWORD)
    assert store.session_state == SessionState.EXPIRED  # new credentials: the next job may try once
    store = session_service.session_login(store=store, force=True)
    assert store.session_state == SessionState.OK
    assert not store.session_screenshot and store.session_reason == ""
    assert sim.logins == 1


def test_no_browser_needs_relogin_with_a_clear_reason(
    kaspi: Callable[..., Any], make_store: Any, settings: Any, monkeypatch: Any
) -> None:
    kaspi()
    settings.CHROMIUM_EXECUTABLE = "/nonexistent/chromium"
    monkeypatch.setenv("PATH", "/nonexistent")
    store = make_store()
    with pytest.raises(session_service.SessionUnavailable):
        session_service.session_login(store=store)
    store.refresh_from_db()
    assert store.session_state == SessionState.NEEDS_RELOGIN
    assert store.session_reason == NO_BROWSER


def test_two_workers_needing_a_session_at_once_cause_one_login(
    kaspi: Callable[..., Any], make_store: Any, transactional_db: None
) -> None:
    sim = kaspi()
    store = make_store()
    results = at_once(lambda _: session_service.session_ensure(store=KaspiStore.objects.get(pk=store.pk)), 2)
    assert all(isinstance(r, KaspiStore) for r in results), results
    assert sim.logins == 1
    assert {r.session_generation for r in results} == {1}
    assert KaspiStore.objects.get(pk=store.pk).session_state == SessionState.OK


def test_an_expired_session_is_renewed_and_the_import_goes_on(kaspi: Callable[..., Any], make_store: Any) -> None:
    sim = kaspi(offers=30)
    store = session_service.session_login(store=make_store())
    sim.expire_sessions()  # Kaspi dropped the session (the cookies now get 401)

    run = stores_service.sync_request(store=store, orders=False)[0]
    run = products_service.products_sync(run=run)

    assert run.status == "succeeded"
    assert sim.logins == 2
    store.refresh_from_db()
    assert store.session_state == SessionState.OK and store.session_generation == 2
    assert KaspiProduct.objects.filter(store=store, is_active=True).count() == 30


def test_a_login_page_answering_503_keeps_the_store_expired_for_the_next_run(
    kaspi: Callable[..., Any], make_store: Any
) -> None:
    from marketplaces.kaspi.clients.errors import LoginUnavailable

    sim = kaspi()
    with sim.lock:
        sim.state["login_status"] = 503
    store = make_store()
    with pytest.raises(LoginUnavailable):
        session_service.session_login(store=store)
    store.refresh_from_db()
    assert store.session_state == SessionState.EXPIRED  # not the store's fault: the next job tries again
    assert "503" in store.session_reason


def test_a_401_in_the_middle_of_the_import_renews_the_session_once(
    kaspi: Callable[..., Any], make_store: Any, settings: Any
) -> None:
    sim = kaspi(offers=35)
    settings.KASPI_OFFERS_PAGE_SIZE = 10
    store = session_service.session_login(store=make_store())
    served = {"pages": 0}
    original = sim.offer_list

    def expiring_offer_list(request: Any) -> Any:
        response = original(request)
        served["pages"] += 1
        if served["pages"] == 2:
            sim.expire_sessions()  # Kaspi drops the session between page 2 and page 3
        return response

    sim._routes = [(m, p, expiring_offer_list if h == original else h) for m, p, h in sim._routes]

    run = products_service.products_sync(run=stores_service.sync_request(store=store, orders=False)[0])

    assert run.status == "succeeded" and run.items_done == 35
    assert sim.logins == 2
    assert KaspiProduct.objects.filter(store=store, is_active=True).count() == 35
