"""The new-order callback (MKT-2b): token-authenticated, stores and acknowledges, never duplicates."""

from __future__ import annotations

import pytest
from django.test import Client

from marketplaces.emag import tasks
from marketplaces.emag.models import EmagCallback, EmagOrder

pytestmark = pytest.mark.django_db


def _deliver(client: Client, token: str, order_id: object, capture) -> object:
    with capture(execute=False) as callbacks:
        response = client.get(f"/webhooks/emag/{token}/", {"order_id": order_id})
    for callback in EmagCallback.objects.all():  # what the queued task does, run here
        if callbacks:
            tasks.callback_process(callback.pk)
    return response


def test_callback_reads_stores_and_acknowledges_the_order_once(
    emag, make_account, django_capture_on_commit_callbacks
) -> None:
    sim = emag()
    account = make_account(sim)
    order = sim.add_order()
    client = Client()
    first = _deliver(client, account.callback_token, order["id"], django_capture_on_commit_callbacks)
    again = _deliver(client, account.callback_token, order["id"], django_capture_on_commit_callbacks)
    assert first.status_code == again.status_code == 200
    stored = EmagOrder.objects.get(account=account, emag_id=order["id"])
    assert stored.status == EmagOrder.Status.IN_PROGRESS and stored.acknowledged_at is not None
    assert sim.state["orders"][order["id"]]["status"] == 2 and order["id"] in sim.state["acknowledged"]
    assert EmagOrder.objects.count() == 1
    callback = EmagCallback.objects.get()
    assert callback.deliveries == 2 and callback.processed_at is not None


def test_callback_for_an_unknown_account_is_404_and_changes_nothing(emag, make_account) -> None:
    sim = emag()
    account = make_account(sim)
    order = sim.add_order()
    before = sim.requests_received()
    response = Client().get(f"/webhooks/emag/{account.callback_token[:-2]}xx/", {"order_id": order["id"]})
    assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"
    assert not EmagCallback.objects.exists() and not EmagOrder.objects.exists()
    assert sim.requests_received() == before


@pytest.mark.parametrize("order_id", ["", "abc", "-3", "0", "99999999999999999999999", "\u00b2", "1\u00b2"])
def test_callback_with_a_bad_order_id_is_a_400(make_account, order_id) -> None:
    account = make_account()
    response = Client().get(f"/webhooks/emag/{account.callback_token}/", {"order_id": order_id})
    assert response.status_code == 400 and "order_id" in response.json()["error"]["fields"]
    assert not EmagCallback.objects.exists()


@pytest.mark.parametrize("suffix", ["%00", "%ED%A0%80"])
def test_a_token_with_a_nul_or_a_bad_byte_is_an_unknown_account(make_account, suffix: str) -> None:
    account = make_account()
    response = Client().get(f"/webhooks/emag/{account.callback_token[:10]}{suffix}/", {"order_id": "5"})
    assert response.status_code == 404
    assert not EmagCallback.objects.exists()


def test_simulator_callbacks_reach_the_webhook_until_acknowledged(emag, make_account, live_server) -> None:
    sim = emag()
    account = make_account(sim)
    sim.state["callback_url"] = f"{live_server.url}/webhooks/emag/{account.callback_token}/"
    order = sim.add_order(send_callback=True)
    assert EmagCallback.objects.filter(account=account, emag_order_id=order["id"]).exists()
    tasks.callback_process(EmagCallback.objects.get().pk)
    assert sim.send_callbacks() == {}  # acknowledged: eMAG stops calling


def test_a_live_sandbox_shop_repeats_callbacks_until_acknowledged(emag, make_account, live_server) -> None:
    sim = emag()
    account = make_account(sim)
    sim.state["callback_url"] = f"{live_server.url}/webhooks/emag/{account.callback_token}/"
    first = sim.activity_step()
    second = sim.activity_step()
    assert first["callbacks"] == {first["new"]: 200}
    assert second["callbacks"][first["new"]] == 200  # repeated: not acknowledged yet
    callback = EmagCallback.objects.get(emag_order_id=first["new"])
    assert callback.deliveries == 2
    tasks.callback_process(callback.pk)
    third = sim.activity_step()
    pending = {
        oid for oid, o in sim.state["orders"].items() if o["status"] == 1 and oid not in sim.state["acknowledged"]
    }
    assert first["new"] not in third["callbacks"] and set(third["callbacks"]) == pending


def test_a_failed_callback_backs_off_and_the_inbox_sweep_processes_it_when_due(emag, make_account, settings) -> None:
    """Issue 22: a callback is an inbox row — a failure leaves it ``retry`` with its error and a next
    attempt; the one inbox sweep leaves it alone until then and processes it once when due."""
    from datetime import timedelta

    from django.utils import timezone

    from core.inbox import InboxStatus
    from marketplaces.emag.services import orders

    sim = emag()
    account = make_account(sim)
    order = sim.add_order()
    callback = orders.callback_receive(account=account, emag_order_id=order["id"])
    sim.internal_error_next = 50  # outlasts the client's own (fast, in tests) retries
    assert tasks.callback_process(callback.pk)["status"] == InboxStatus.RETRY
    callback.refresh_from_db()
    assert (callback.status, callback.attempts) == (InboxStatus.RETRY, 1)
    assert "Internal error" in callback.last_error and callback.next_attempt_at > timezone.now()
    sim.internal_error_next = 0
    assert orders.callbacks_sweep() == 0  # not due yet
    assert not EmagOrder.objects.exists()
    EmagCallback.objects.filter(pk=callback.pk).update(next_attempt_at=timezone.now() - timedelta(seconds=1))
    assert orders.callbacks_sweep() == 1
    callback.refresh_from_db()
    assert (callback.status, callback.attempts, callback.last_error) == (InboxStatus.PROCESSED, 2, "")
    assert EmagOrder.objects.get(emag_id=order["id"]).acknowledged_at is not None
    assert orders.callbacks_sweep() == 0
    assert tasks.callback_process(callback.pk)["status"] == "not due"  # eMAG's late repeat changes nothing


def test_the_callbacks_sweep_is_a_periodic_job() -> None:
    from core.scheduling import registered_jobs

    job = next(j for j in registered_jobs() if j.name == "marketplaces.emag.callbacks_sweep")
    assert job.task == "marketplaces.emag.tasks.callbacks_sweep" and job.every_seconds == 60
