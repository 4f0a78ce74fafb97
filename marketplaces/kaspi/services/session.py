"""The cabinet session of a store: probe, renew, one login at a time (SPEC MKT-1).

``session_state`` moves only through ``SESSION_STATE`` (compare-and-set):

    ok ──probe/401──▶ expired ──login──▶ ok
    ok/expired ──login failed (wrong password, SMS, unknown page, no browser)──▶ needs_relogin
    needs_relogin ──"log in now" succeeded──▶ ok;   ──credentials changed──▶ expired

Only ``expired`` logs in by itself (the next job that needs the cabinet does it). ``needs_relogin``
waits for a person ("log in now" in the admin or the API), so a failing login is never repeated in
a loop. Logins of one store are serialised by a Redis lock; a worker that waited for it compares
``session_generation`` and reuses the session the other worker just made.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any, TypeVar

import redis
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.utils import timezone

from core.exceptions import IntegrationError
from core.logging import untrusted
from core.ratelimit import Pacer
from core.redis_client import shared_redis
from core.transitions import StateTable

from ..clients import cabinet
from ..clients.cabinet import CabinetClient, Cookie
from ..clients.errors import LoginFailed, LoginUnavailable, SessionExpired
from ..clients.login import browser_login, find_chromium
from ..models import KaspiStore, SessionState

log = logging.getLogger(__name__)
T = TypeVar("T")

SESSION_STATE = StateTable(
    KaspiStore,
    "session_state",
    {
        # ok → ok: "log in now" on a working session replaces it with a fresh one.
        SessionState.OK: {SessionState.OK, SessionState.EXPIRED, SessionState.NEEDS_RELOGIN},
        SessionState.EXPIRED: {SessionState.OK, SessionState.NEEDS_RELOGIN},
        # A manual retry that fails again keeps the state and records the new reason and screenshot.
        SessionState.NEEDS_RELOGIN: {SessionState.OK, SessionState.EXPIRED, SessionState.NEEDS_RELOGIN},
    },
)


class SessionUnavailable(IntegrationError):
    """The store has no usable cabinet session and will not get one without a person (needs_relogin)."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"cabinet session needs a re-login: {reason}", service="kaspi-cabinet", permanent=True)
        self.reason = reason


# --- helpers -------------------------------------------------------------------------------------


def store_cookies(store: KaspiStore) -> list[Cookie]:
    if not store.session_cookies:
        return []
    try:
        return [Cookie(**item) for item in json.loads(str(store.session_cookies))]
    except (ValueError, TypeError):
        return []


def cabinet_limiter(store: KaspiStore) -> Pacer:
    """The merchant's cabinet pacer, as the cabinet client declares it."""
    return cabinet.pacer(merchant_key=store.merchant_uid or f"store-{store.pk}")


def cabinet_client(store: KaspiStore, cookies: list[Cookie] | None = None) -> CabinetClient:
    limiter = cabinet_limiter(store)
    return CabinetClient(
        base_url=settings.KASPI_CABINET_URL,
        cookies=store_cookies(store) if cookies is None else cookies,
        before_request=lambda: _acquire(limiter),
    )


def _acquire(limiter: Pacer) -> None:
    limiter.acquire(timeout=60)


def _short(reason: str) -> str:
    return reason[:500]


def _save_screenshot(store: KaspiStore, png: bytes) -> str:
    if not png:
        return ""
    stamp = timezone.now().strftime("%Y%m%d-%H%M%S-%f")
    return default_storage.save(f"kaspi/screenshots/store-{store.pk}-{stamp}.png", ContentFile(png))


def _drop_file(name: str) -> None:
    if name:
        try:
            default_storage.delete(name)
        except OSError:
            log.warning("kaspi: could not delete old screenshot %s", name)


# --- transitions ---------------------------------------------------------------------------------


def session_needs_relogin(*, store: KaspiStore, reason: str, screenshot: bytes = b"") -> bool:
    """Park the store until a person logs in again; keep what the browser saw."""
    old = KaspiStore.objects.filter(pk=store.pk).values_list("session_screenshot", flat=True).first() or ""
    name = _save_screenshot(store, screenshot)
    moved = SESSION_STATE.advance(
        pk=store.pk,
        to=SessionState.NEEDS_RELOGIN,
        session_reason=_short(reason),
        session_screenshot=name,
        session_cookies="",
        session_checked_at=timezone.now(),
    )
    if moved is not None and name != old:
        _drop_file(old)
    elif moved is None:
        _drop_file(name)  # the store moved on meanwhile: no row points at this file
    log.warning("kaspi store %s: needs re-login: %s", store.pk, untrusted(reason, 200))
    store.refresh_from_db()
    return moved is not None


def session_expire(*, store: KaspiStore, reason: str, generation: int | None = None) -> bool:
    """ok → expired, unless a newer session exists already (``generation`` is the one that failed)."""
    where = {"session_generation": generation} if generation is not None else None
    moved = SESSION_STATE.advance(
        pk=store.pk,
        to=SessionState.EXPIRED,
        from_=SessionState.OK,
        where=where,
        session_reason=_short(reason),
        session_checked_at=timezone.now(),
    )
    store.refresh_from_db()
    return moved is not None


def session_credentials_changed(*, store: KaspiStore) -> None:
    """New e-mail or password: a store parked in needs_relogin may try once more by itself."""
    SESSION_STATE.advance(
        pk=store.pk,
        to=SessionState.EXPIRED,
        from_=SessionState.NEEDS_RELOGIN,
        session_reason="credentials changed; the next job logs in",
    )
    store.refresh_from_db()


# --- login -----------------------------------------------------------------------------------------


def session_login(*, store: KaspiStore, force: bool = False, seen_generation: int | None = None) -> KaspiStore:
    """Log the store into the cabinet in a real browser, one login per store at a time.

    ``force`` (a person pressed "log in now") also logs in a store parked in needs_relogin.
    ``seen_generation``: the session generation the caller found unusable; if another worker has
    logged in since, its fresh session is reused and no browser is started.
    A crash mid-login leaves the state where it was (expired/needs_relogin) and the Redis lock
    expires by itself, so the next job or the next click logs in again.
    """
    # The lock outlives the slowest login (three bounded browser steps), so it never expires mid-login.
    held = max(settings.KASPI_LOGIN_LOCK_SECONDS, int(settings.KASPI_LOGIN_TIMEOUT_SECONDS * 3 + 60))
    lock = shared_redis().lock(
        f"kaspi:login:{store.pk}", timeout=held, blocking_timeout=settings.KASPI_LOGIN_LOCK_SECONDS
    )
    if not lock.acquire():
        raise LoginUnavailable("another login of this store is still running")
    try:
        store.refresh_from_db()
        if (
            seen_generation is not None
            and store.session_generation != seen_generation
            and store.session_state == SessionState.OK
            and store.session_cookies
        ):
            log.info("kaspi store %s: reusing the session another worker just made", store.pk)
            return store
        if store.session_state == SessionState.NEEDS_RELOGIN and not force:
            raise SessionUnavailable(store.session_reason or "a person must log in again")
        return _login(store)
    finally:
        try:
            lock.release()
        except redis.exceptions.LockError:
            log.warning("kaspi store %s: the login lock expired before the login ended", store.pk)


def _login(store: KaspiStore) -> KaspiStore:
    if not store.cabinet_email or not store.cabinet_password:
        session_needs_relogin(store=store, reason="no cabinet e-mail or password set for this store")
        raise SessionUnavailable(store.session_reason)
    try:
        result = browser_login(
            login_url=settings.KASPI_LOGIN_URL,
            email=str(store.cabinet_email),
            password=str(store.cabinet_password),
            chromium=find_chromium(settings.CHROMIUM_EXECUTABLE),
            timeout=settings.KASPI_LOGIN_TIMEOUT_SECONDS,
            field_timeout=settings.KASPI_LOGIN_FIELD_SECONDS,
        )
    except LoginFailed as exc:
        session_needs_relogin(store=store, reason=exc.reason, screenshot=exc.screenshot)
        raise SessionUnavailable(exc.reason) from exc
    except LoginUnavailable as exc:
        # Kaspi is down or slow: not the store's fault; the next job tries again.
        KaspiStore.objects.filter(pk=store.pk).update(session_reason=_short(f"login page unavailable: {exc.reason}"))
        raise
    client = cabinet_client(store, result.cookies)
    try:
        uids = client.session_probe()
    except SessionExpired as exc:
        session_needs_relogin(store=store, reason="the cabinet refused the session it had just opened")
        raise SessionUnavailable(store.session_reason) from exc
    if store.merchant_uid and store.merchant_uid not in uids:
        session_needs_relogin(
            store=store,
            reason=f"this login has no access to merchant {store.merchant_uid} (it sees {', '.join(uids) or 'none'})",
        )
        raise SessionUnavailable(store.session_reason)
    now = timezone.now()
    cookies = json.dumps([c.__dict__ for c in result.cookies])
    fields: dict[str, Any] = {
        "session_cookies": cookies,
        "session_reason": "",
        "session_logged_in_at": now,
        "session_checked_at": now,
        "session_generation": store.session_generation + 1,
        "session_screenshot": "",
    }
    if not store.merchant_uid and uids:
        fields["merchant_uid"] = uids[0]
    old_shot = str(store.session_screenshot or "")
    if SESSION_STATE.advance(pk=store.pk, to=SessionState.OK, **fields) is None:
        raise LoginUnavailable("the store's session state changed during the login")
    _drop_file(old_shot)
    store.refresh_from_db()
    log.info("kaspi store %s: logged in to the cabinet (generation %s)", store.pk, store.session_generation)
    return store


# --- use ---------------------------------------------------------------------------------------------


def session_ensure(*, store: KaspiStore) -> KaspiStore:
    """A store whose cookies answered ``/s/m`` just now; logs in (once, under the lock) when needed."""
    store.refresh_from_db()
    if store.session_state == SessionState.NEEDS_RELOGIN:
        raise SessionUnavailable(store.session_reason or "a person must log in again")
    generation = store.session_generation
    if store.session_state == SessionState.OK and store.session_cookies:
        try:
            cabinet_client(store).session_probe()
        except SessionExpired:
            session_expire(store=store, reason="session expired (/s/m answered 401)", generation=generation)
        else:
            KaspiStore.objects.filter(pk=store.pk).update(session_checked_at=timezone.now())
            return store
    return session_login(store=store, seen_generation=generation)


def with_cabinet(*, store: KaspiStore, call: Callable[[CabinetClient], T]) -> T:
    """Run ``call`` with a live session; on a 401 renew the session once and repeat the call."""
    generation = store.session_generation
    try:
        return call(cabinet_client(store))
    except SessionExpired:
        session_expire(store=store, reason="session expired (the cabinet answered 401)", generation=generation)
        store = session_login(store=store, seen_generation=generation)
        return call(cabinet_client(store))
