"""`make run` demo: a Kaspi store on the sandbox simulator that logs in through the sandbox's login
page in real Chromium, then imports its offers and orders (no real marketplace involved)."""

from __future__ import annotations

from django.urls import reverse

from core.models import Merchant
from sandbox.kaspi import SANDBOX_EMAIL, SANDBOX_MERCHANT_UID, SANDBOX_PASSWORD, SANDBOX_SHOP_TOKEN

from .clients.login import find_chromium
from .models import KaspiStore, SessionState
from .services import session as session_service
from .services import stores as stores_service


def demo_setup(*, merchant: Merchant) -> list[str]:
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
    stores = reverse("admin:marketplaces_kaspistore_changelist")
    products = reverse("admin:marketplaces_kaspiproduct_changelist")
    orders = reverse("admin:marketplaces_kaspiorder_changelist")
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
