"""`make run` demo: a Kaspi store on the sandbox simulator that logs in through the sandbox's login
page in real Chromium, then imports its offers and orders (no real marketplace involved)."""

from __future__ import annotations

import logging

from django.urls import reverse

from core.models import Merchant

from .clients.login import find_chromium
from .demo_account import SANDBOX_EMAIL, SANDBOX_MERCHANT_UID, SANDBOX_PASSWORD, SANDBOX_SHOP_TOKEN
from .models import KaspiStore, SessionState
from .services import session as session_service
from .services import stores as stores_service

log = logging.getLogger(__name__)


def demo_setup(*, merchant: Merchant) -> list[str]:
    try:
        return _demo_store(merchant=merchant)
    except Exception:  # the Kaspi demo (a browser login) must not stop the whole stack from starting
        log.exception("Kaspi demo setup failed; everything else runs")
        return ["Kaspi demo: not set up (see the log above)"]


def _demo_store(*, merchant: Merchant) -> list[str]:
    from django.conf import settings

    store, _ = KaspiStore.objects.get_or_create(
        merchant=merchant,
        merchant_uid=SANDBOX_MERCHANT_UID,
        defaults={
            "name": "Kaspi sandbox store",
            "shop_api_token": SANDBOX_SHOP_TOKEN,
            "cabinet_email": SANDBOX_EMAIL,
            "cabinet_password": SANDBOX_PASSWORD,
        },
    )
    if store.session_state == SessionState.NEEDS_RELOGIN:
        # Parked by an earlier run (e.g. no browser then); the sandbox credentials are right, so try again.
        session_service.session_credentials_changed(store=store)
    stores_service.sync_request(store=store, mode="demo")
    stores = reverse("admin:kaspi_kaspistore_changelist")
    products = reverse("admin:kaspi_kaspiproduct_changelist")
    orders = reverse("admin:kaspi_kaspiorder_changelist")
    lines = [
        f"Kaspi (sandbox): {stores} → “{store.name}” logs in through the sandbox login page in Chromium, then "
        f"{products} and {orders}",
        "Kaspi API: GET /api/v1/marketplaces/kaspi/stores/, /products/, /orders/, /preorders/",
    ]
    if find_chromium(settings.CHROMIUM_EXECUTABLE) is None:
        lines.append(
            "Kaspi: no browser found — the store will say “needs re-login” (install Chromium or set "
            "CHROMIUM_EXECUTABLE); everything else runs."
        )
    return lines
