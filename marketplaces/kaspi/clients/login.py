"""The cabinet login in a real browser: Playwright driving Chromium (API_CONTRACTS.md "Kaspi.kz").

``browser_login(...)`` opens the login page in a fresh profile, types the e-mail, continues, types
the password, and waits for one of: the cabinet (``nav.navbar``) → the session cookies; the error
notification (``.notification.is-danger``) → wrong credentials; an SMS-code field → a person must
log in; anything else → an unknown page. Every failure carries a PNG of what the browser showed.
A login page without the e-mail field is known for what it is (Kaspi changed the page) once the page
has loaded and ``field_timeout`` more seconds passed without the field, not after the whole
``timeout``: a page that is only slow still has ``timeout`` to load.
It runs in a thread of its own, so Playwright's event loop never meets the caller's (Django's ORM
refuses to run inside one), and it returns plain data: the caller stores it.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import threading
from dataclasses import dataclass
from typing import Any

from .cabinet import Cookie
from .errors import LoginFailed, LoginUnavailable

log = logging.getLogger(__name__)

NO_BROWSER = "no browser: install Chromium or set CHROMIUM_EXECUTABLE"
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
EMAIL_FIELD = "#user_email_field"
PASSWORD_FIELD = "#password_field"
CONTINUE_BUTTON = ".button.is-primary"
SUCCESS = "nav.navbar"
FAILURE = ".notification.is-danger"
SMS_FIELD = "#sms_code_field, input[autocomplete='one-time-code'], input[name='code'], input[name='smsCode']"
SESSION_COOKIES = ("mc-session", "mc-sid")


@dataclass(frozen=True)
class LoginResult:
    cookies: list[Cookie]


def find_chromium(configured: str = "") -> str | None:
    for candidate in (
        configured,
        shutil.which("chromium"),
        shutil.which("chromium-browser"),
        shutil.which("google-chrome"),
    ):
        if candidate and os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    return None


def browser_login(
    *,
    login_url: str,
    email: str,
    password: str,
    chromium: str | None,
    timeout: float = 60.0,
    field_timeout: float = 5.0,
) -> LoginResult:
    """Log in once. Raises LoginFailed (a person must act) or LoginUnavailable (try later)."""
    if not chromium:
        raise LoginFailed(NO_BROWSER)
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["result"] = _login(
                login_url=login_url,
                email=email,
                password=password,
                chromium=chromium,
                timeout=timeout,
                field_timeout=field_timeout,
            )
        except BaseException as exc:  # handed to the calling thread
            outcome["error"] = exc

    thread = threading.Thread(target=run, name="kaspi-login", daemon=True)
    thread.start()
    thread.join(timeout * 3 + 30)
    if thread.is_alive():
        raise LoginUnavailable("the browser did not finish the login in time")
    if "error" in outcome:
        raise outcome["error"]
    return outcome["result"]  # type: ignore[no-any-return]


def _login(
    *, login_url: str, email: str, password: str, chromium: str, timeout: float, field_timeout: float
) -> LoginResult:
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    from playwright.sync_api import sync_playwright

    step_ms = timeout * 1000
    with tempfile.TemporaryDirectory(prefix="kaspi-login-") as profile, sync_playwright() as playwright:
        try:
            context = playwright.chromium.launch_persistent_context(
                profile,
                executable_path=chromium,
                headless=True,
                args=CHROMIUM_ARGS,
                locale="ru-RU",
                viewport={"width": 1280, "height": 900},
                timeout=step_ms,
            )
        except PlaywrightError as exc:
            log.warning("kaspi login: the browser did not start: %s", type(exc).__name__)
            raise LoginFailed(f"{NO_BROWSER} (it did not start: {str(exc).splitlines()[0][:200]})") from exc
        try:
            page = context.pages[0] if context.pages else context.new_page()
            page.set_default_timeout(step_ms)

            def shot() -> bytes:
                try:
                    return page.screenshot(full_page=True, timeout=10_000)
                except PlaywrightError:
                    return b""

            try:
                response = page.goto(login_url, wait_until="domcontentloaded")
            except PlaywrightError as exc:
                raise LoginUnavailable(f"the login page did not load: {str(exc).splitlines()[0][:200]}") from exc
            if response is not None and response.status >= 500:
                raise LoginUnavailable(f"the login page answered {response.status}", screenshot=shot())
            if response is not None and response.status == 429:
                raise LoginUnavailable("the login page answered 429", screenshot=shot())
            _wait_for_login_form(page, step_ms=step_ms, field_ms=field_timeout * 1000, shot=shot)
            page.fill(EMAIL_FIELD, email)
            page.click(CONTINUE_BUTTON)
            try:
                page.wait_for_selector(f"{PASSWORD_FIELD}, {FAILURE}", state="visible")
            except PlaywrightTimeout as exc:
                raise LoginFailed(
                    f"unknown page: the password field {PASSWORD_FIELD} did not appear", screenshot=shot()
                ) from exc
            if page.locator(FAILURE).count() and not page.locator(PASSWORD_FIELD).count():
                raise LoginFailed(f"login refused: {_text(page, FAILURE)}", screenshot=shot())
            page.fill(PASSWORD_FIELD, password)
            page.click(CONTINUE_BUTTON)
            try:
                page.wait_for_selector(f"{SUCCESS}, {FAILURE}, {SMS_FIELD}", state="visible")
            except PlaywrightTimeout as exc:
                raise LoginFailed(
                    "unknown page after the password step (no cabinet, no error)", screenshot=shot()
                ) from exc
            if page.locator(FAILURE).count():
                raise LoginFailed(f"wrong e-mail or password: {_text(page, FAILURE)}", screenshot=shot())
            if page.locator(SMS_FIELD).count():
                raise LoginFailed(
                    "SMS code required: log in once by hand in the cabinet, then press “log in now”", screenshot=shot()
                )
            cookies = [
                Cookie(name=c["name"], value=c["value"], domain=c.get("domain", ""), path=c.get("path", "/"))
                for c in context.cookies()
            ]
            if not any(c.name in SESSION_COOKIES for c in cookies):
                raise LoginFailed("the cabinet opened but set no session cookie (mc-session/mc-sid)", screenshot=shot())
            return LoginResult(cookies=cookies)
        except PlaywrightTimeout as exc:
            raise LoginUnavailable("the login page timed out") from exc
        finally:
            context.close()


def _wait_for_login_form(page: Any, *, step_ms: float, field_ms: float, shot: Any) -> None:
    """The e-mail field, or ``LoginFailed`` once the page has loaded and ``field_ms`` passed without it.

    A page still loading has the whole step (``LoginUnavailable`` after it: Kaspi is slow); a page
    that loaded is given ``field_ms`` more for scripts that draw the form, and then it is a page we
    do not know — a person must look, and waiting longer would not change it."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        page.wait_for_selector(EMAIL_FIELD, state="visible", timeout=field_ms)
        return
    except PlaywrightTimeout:
        pass
    try:
        page.wait_for_load_state("load", timeout=step_ms)
    except PlaywrightTimeout as exc:
        raise LoginUnavailable("the login page did not finish loading", screenshot=shot()) from exc
    try:
        page.wait_for_selector(EMAIL_FIELD, state="visible", timeout=field_ms)
    except PlaywrightTimeout as exc:
        raise LoginFailed(
            f"unknown page: the e-mail field {EMAIL_FIELD} is missing (page changed?)", screenshot=shot()
        ) from exc


def _text(page: Any, selector: str) -> str:
    try:
        return " ".join(str(page.locator(selector).first.inner_text(timeout=2000)).split())[:200]
    except Exception:
        return "(no text)"
