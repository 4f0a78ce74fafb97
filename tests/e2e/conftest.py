"""Real Chromium through Playwright against pages served by pytest-django's live server."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

# Playwright's sync API runs an event loop in this thread; the ORM calls tests make around it are
# still plain synchronous calls, so Django's async-safety guard is relaxed for e2e tests only.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


def chromium_path() -> str | None:
    """CHROMIUM_EXECUTABLE, the system's Chromium, or Playwright's own (core.embedded.find_chromium)."""
    from django.conf import settings

    from core.embedded import find_chromium

    return find_chromium(settings.CHROMIUM_EXECUTABLE)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    from core.embedded import CHROMIUM_MISSING

    path = chromium_path()
    if path is None:
        pytest.skip(CHROMIUM_MISSING)  # only when no browser exists at all: says exactly what to install
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=path, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 390, "height": 844}, locale="ru-RU")
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()
