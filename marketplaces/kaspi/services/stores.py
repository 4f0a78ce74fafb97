"""Stores: create/update with write-only secrets, "sync now", "log in now", error recording."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext

from core.exceptions import IntegrationError
from core.models import Merchant, SyncRun
from core.selectors import sync_runs_of
from core.services import UNFINISHED, sync_run_create
from core.steps import sync_run_redrive

from ..models import KaspiStore, SessionState

log = logging.getLogger(__name__)

SECRET_FIELDS = ("shop_api_token", "cabinet_email", "cabinet_password")
CREDENTIAL_FIELDS = ("cabinet_email", "cabinet_password")


def describe_error(error: BaseException) -> str:
    if isinstance(error, IntegrationError):
        return str(error)
    return f"{type(error).__name__}: {error}"


def store_record_error(*, store: KaspiStore, error: BaseException) -> None:
    """What the owner sees on the store: the last failure, in words (never a secret: errors carry none)."""
    KaspiStore.objects.filter(pk=store.pk).update(last_error=describe_error(error)[:2000], updated_at=timezone.now())


@transaction.atomic
def store_create(*, merchant: Merchant, **fields: Any) -> KaspiStore:
    store = KaspiStore(merchant=merchant, **fields)
    store.full_clean(exclude=["session_screenshot"])
    store.save()
    return store


@transaction.atomic
def store_update(*, store: KaspiStore, **fields: Any) -> KaspiStore:
    """Blank secrets keep the stored ones (write-only fields); new cabinet credentials unpark the session."""
    credentials_changed = False
    for name, value in fields.items():
        if name in SECRET_FIELDS and not value:
            continue
        if name in CREDENTIAL_FIELDS and value != getattr(store, name):
            credentials_changed = True
        setattr(store, name, value)
    store.full_clean(exclude=["session_screenshot"])
    store.save()
    if credentials_changed:
        from .session import session_credentials_changed

        session_credentials_changed(store=store)
    return store


def store_save(*, merchant: Merchant, data: dict[str, Any], account: KaspiStore | None = None) -> KaspiStore:
    """The owner API's and the admin's one write (``core.api.accounts``): create, or update ``account``."""
    if account is None:
        return store_create(merchant=merchant, **data)
    return store_update(store=account, **data)


def sync_request(
    *, store: KaspiStore, products: bool = True, orders: bool = True, mode: str = "on_demand"
) -> list[SyncRun]:
    """Queue a products and/or an orders run on the ``sync`` queue; returns the queued runs."""
    from .. import tasks
    from . import orders as orders_service
    from . import products as products_service

    runs: list[SyncRun] = []
    with transaction.atomic():
        if products:
            run = sync_run_create(merchant=store.merchant, kind=products_service.KIND, account=store, mode=mode)
            transaction.on_commit(lambda run=run: tasks.products_sync_execute.delay(run.pk))  # type: ignore[misc]
            runs.append(run)
        if orders:
            date_from, date_to = orders_service.orders_window(store=store)
            run = sync_run_create(
                merchant=store.merchant,
                kind=orders_service.KIND,
                account=store,
                mode=mode,
                params={"date_from": date_from.isoformat(), "date_to": date_to.isoformat()},
            )
            transaction.on_commit(lambda run=run: tasks.orders_sync_execute.delay(run.pk))  # type: ignore[misc]
            runs.append(run)
    return runs


class NothingToSync(ValueError):
    pass


def sync_now(*, store: KaspiStore) -> list[SyncRun]:
    """Sync now (admin, API): offers when the store has a cabinet login, orders when it has a token."""
    products = bool(store.cabinet_email and store.cabinet_password)
    orders = bool(store.shop_api_token)
    if not (products or orders):
        raise NothingToSync(
            gettext("Set the Shop API token (orders) or the cabinet e-mail and password (products) first.")
        )
    return sync_request(store=store, products=products, orders=orders)


def login_request(*, store: KaspiStore) -> None:
    """Log in now: a person asked, so a store parked in needs_relogin tries once (in a worker)."""
    from .. import tasks

    transaction.on_commit(lambda: tasks.session_login_execute.delay(store.pk, True))


def _pending(store: KaspiStore, kind: str) -> bool:
    """A run of this kind is still queued or running (recently): a lagging worker gets no second one."""
    recent = timezone.now() - timedelta(hours=2)
    return sync_runs_of(store).filter(kind=kind, created_at__gte=recent, status__in=UNFINISHED).exists()


def sync_scheduled() -> list[int]:
    """The periodic job: every active store gets an orders run (with a Shop API token) and a products
    run (with cabinet credentials, unless parked in needs_relogin), unless one is still pending."""
    from .. import tasks
    from .orders import KIND as ORDERS
    from .products import KIND as PRODUCTS

    # Runs nobody executes any more (a killed worker, a lost message) resume from their checkpoint.
    queued: list[int] = sync_run_redrive(kinds=[PRODUCTS], task=tasks.products_sync_execute)
    queued += sync_run_redrive(kinds=[ORDERS], task=tasks.orders_sync_execute)
    for store in KaspiStore.objects.filter(is_active=True).select_related("merchant"):
        products = (
            store.session_state != SessionState.NEEDS_RELOGIN
            and bool(store.cabinet_email)
            and bool(store.cabinet_password)
            and not _pending(store, PRODUCTS)
        )
        orders = bool(store.shop_api_token) and not _pending(store, ORDERS)
        if products or orders:
            runs = sync_request(store=store, products=products, orders=orders, mode="scheduled")
            queued.extend(run.pk for run in runs)
    return queued
