"""`make run`: the demo hook's sandbox account syncs orders from the sandbox simulator."""

from __future__ import annotations

import pytest

from core.models import SyncRun
from marketplaces.emag.demo import demo_setup
from marketplaces.emag.models import EmagAccount, EmagOrder
from marketplaces.emag.services import orders
from sandbox.emag import _sandbox_factory
from tests.factories import MerchantFactory

pytestmark = pytest.mark.django_db


def test_demo_account_syncs_the_sandbox_shop(start_simulator) -> None:
    start_simulator(_sandbox_factory(activity=False), EMAG_BACKOFF_BASE_SECONDS=0.01)
    merchant = MerchantFactory()
    lines = demo_setup(merchant=merchant)
    demo_setup(merchant=merchant)  # idempotent
    assert EmagAccount.objects.filter(merchant=merchant).count() == 1
    assert any("Sync now" in line for line in lines)
    account = EmagAccount.objects.get(merchant=merchant)
    run = orders.orders_sync(account=account)
    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    assert EmagOrder.objects.filter(account=account).count() == 12
    labels = set(EmagOrder.objects.values_list("cancellation_reason", flat=True))
    assert 42 in labels
    assert EmagOrder.objects.get(account=account, cancellation_reason=42).cancellation_reason_label == "unknown (42)"
    assert not EmagOrder.objects.filter(account=account, status=EmagOrder.Status.NEW).exists()  # acknowledged
