"""MKT-7 across a real queue: "sync now" and the new-order callback are done by a Celery worker on
the ``sync`` queue (real Redis broker, committed rows)."""

from __future__ import annotations

import pytest
from django.test import Client

from core.models import SyncRun
from marketplaces.emag.models import EmagCallback, EmagOrder
from tests.factories import owner_client
from tests.support.simulators import simulator_env
from tests.support.waiting import wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def test_sync_now_and_callbacks_are_done_by_a_worker_on_the_sync_queue(emag, make_account, start_worker) -> None:
    sim = emag(orders=5)
    start_worker(queues="sync,default", extra_env={**simulator_env(sim), "EMAG_BACKOFF_BASE_SECONDS": "0.01"})
    client, _, merchant = owner_client()
    account = make_account(sim, merchant=merchant)

    response = client.post(f"/api/v1/marketplaces/emag/accounts/{account.pk}/sync/")
    assert response.status_code == 202
    run_id = response.json()["run_id"]
    wait_for(
        lambda: SyncRun.objects.get(pk=run_id).status in (SyncRun.Status.SUCCEEDED, SyncRun.Status.FAILED), timeout=60
    )
    run = SyncRun.objects.get(pk=run_id)
    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    assert EmagOrder.objects.filter(account=account, status=EmagOrder.Status.IN_PROGRESS).count() == 5

    order = sim.add_order()
    callback = Client().get(f"/webhooks/emag/{account.callback_token}/", {"order_id": order["id"]})
    assert callback.status_code == 200
    wait_for(
        lambda: EmagCallback.objects.filter(emag_order_id=order["id"]).exclude(processed_at=None).exists(), timeout=60
    )
    stored = EmagOrder.objects.get(account=account, emag_id=order["id"])
    assert stored.status == EmagOrder.Status.IN_PROGRESS and order["id"] in sim.state["acknowledged"]
