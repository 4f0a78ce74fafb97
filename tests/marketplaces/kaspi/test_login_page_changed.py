"""A changed Kaspi login page is known for what it is in seconds, not after the whole browser timeout
(issue 20 point 6): once the page has loaded, KASPI_LOGIN_FIELD_SECONDS without the e-mail field
means "needs re-login"; a form that a script draws a moment after the load still logs in."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from marketplaces.kaspi.models import SessionState
from marketplaces.kaspi.services import session as session_service
from tests.e2e.conftest import chromium_path

pytestmark = pytest.mark.e2e

# The browser timeout the issue was about; the login below runs with twice that, so a login that
# waited for the timeout could not finish within it.
OLD_WAIT = 60.0


@pytest.fixture(autouse=True)
def chromium(settings: Any) -> str:
    path = chromium_path()
    if path is None:
        pytest.fail("Chromium not found: apt-get install -y chromium (or set CHROMIUM_EXECUTABLE)")
    settings.CHROMIUM_EXECUTABLE = path
    return path


def test_a_login_page_without_the_email_field_needs_relogin_long_before_the_browser_timeout(
    kaspi: Callable[..., Any], make_store: Any, settings: Any
) -> None:
    sim = kaspi()
    settings.KASPI_LOGIN_TIMEOUT_SECONDS = 2 * OLD_WAIT  # after kaspi(), which sets a test default
    settings.KASPI_LOGIN_FIELD_SECONDS = 2.0
    with sim.lock:
        sim.state["changed_page"] = True
    store = make_store()
    started = time.monotonic()
    with pytest.raises(session_service.SessionUnavailable):
        session_service.session_login(store=store)
    took = time.monotonic() - started
    store.refresh_from_db()
    assert store.session_state == SessionState.NEEDS_RELOGIN
    assert "#user_email_field" in store.session_reason and store.session_screenshot
    # Not a latency figure: a login that waited for the timeout takes 2 × OLD_WAIT, by construction.
    assert took < OLD_WAIT, f"the changed page was reported after {took:.0f} s"


def test_a_login_form_drawn_by_a_script_after_the_page_loaded_still_logs_in(
    kaspi: Callable[..., Any], make_store: Any, settings: Any
) -> None:
    sim = kaspi()
    settings.KASPI_LOGIN_FIELD_SECONDS = 5.0
    with sim.lock:
        sim.state["login_render_ms"] = 1500  # well inside the field allowance
    store = session_service.session_login(store=make_store())
    assert store.session_state == SessionState.OK and sim.logins == 1
