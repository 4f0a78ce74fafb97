"""The newest Poster value wins (SPEC POS-4, issue 20 point 1): the reads of one object never overlap,
so an earlier read that Poster answers late cannot overwrite a later one; a burst of webhooks for
one account's objects is read together, not once per webhook."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection
from django.test import Client

from core.services import sync_run_create
from poster_sync.models import Ingredient, WebhookLog, WebhookStatus
from poster_sync.services.sync import entity_sync
from poster_sync.services.webhooks import webhook_process
from tests.support.waiting import wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def delivery(account, object_id: int, action: str = "changed", obj: str = "ingredient") -> WebhookLog:  # type: ignore[no-untyped-def]
    return WebhookLog.objects.create(
        account=account,
        account_name=account.account,
        object=obj,
        object_id=str(object_id),
        action=action,
        signature_valid=True,
        delivery_key=f"{obj}-{object_id}-{action}-{time.monotonic_ns()}",
    )


def in_thread(target: Callable[[], str]) -> tuple[threading.Thread, dict[str, Any]]:
    result: dict[str, Any] = {}

    def run() -> None:
        try:
            result["outcome"] = target()
        except BaseException as exc:
            result["error"] = exc
        finally:
            connection.close()  # this thread's own database connection

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, result


def test_an_earlier_read_answered_after_a_later_one_does_not_overwrite_the_newer_value(poster, make_account) -> None:  # type: ignore[no-untyped-def]
    account = make_account()
    poster.sim.change("ingredient", 3, fields={"ingredient_name": "A"}, send=False)
    first = delivery(account, 3)
    # Poster takes the first read's answer ("A") when it arrives but sends it late.
    poster.sim.hold_next_read("menu.getIngredient")
    thread, result = in_thread(lambda: webhook_process(log_id=first.pk))
    try:
        wait_for(lambda: poster.sim.held_reads() == 1, timeout=30)
        # Meanwhile the ingredient changes again and its webhook is processed.
        poster.sim.change("ingredient", 3, fields={"ingredient_name": "B"}, send=False)
        second = delivery(account, 3)
        outcome = webhook_process(log_id=second.pk)
        assert outcome.startswith("coalesced")  # it does not race the read in flight
    finally:
        poster.sim.release_reads()
        thread.join(60)
    assert "error" not in result, result
    assert Ingredient.objects.get(account=account, poster_id=3).name == "B"  # what Poster holds now
    assert result["outcome"] == "ingredients 3 updated"
    assert poster.sim.state["methods"].count("menu.getIngredient") == 2  # the late read, then one after it
    assert set(WebhookLog.objects.values_list("status", flat=True)) == {WebhookStatus.PROCESSED}


def test_a_removal_during_a_read_in_flight_is_applied_after_that_read(poster, make_account) -> None:  # type: ignore[no-untyped-def]
    account = make_account()
    poster.sim.change("ingredient", 4, fields={"ingredient_name": "still here"}, send=False)
    first = delivery(account, 4)
    poster.sim.hold_next_read("menu.getIngredient")
    thread, result = in_thread(lambda: webhook_process(log_id=first.pk))
    try:
        wait_for(lambda: poster.sim.held_reads() == 1, timeout=30)
        poster.sim.change("ingredient", 4, action="removed", send=False)
        assert webhook_process(log_id=delivery(account, 4, action="removed").pk).startswith("coalesced")
    finally:
        poster.sim.release_reads()
        thread.join(60)
    assert "error" not in result, result
    assert Ingredient.objects.get(account=account, poster_id=4).removed_at is not None


def test_a_burst_of_webhooks_for_several_objects_is_read_in_one_call(poster, make_account) -> None:  # type: ignore[no-untyped-def]
    account = make_account()
    poster.sim.change("ingredient", 1, fields={"ingredient_name": "first"}, send=False)
    first = delivery(account, 1)
    poster.sim.hold_next_read("menu.getIngredient")
    thread, result = in_thread(lambda: webhook_process(log_id=first.pk))
    try:
        wait_for(lambda: poster.sim.held_reads() == 1, timeout=30)
        for poster_id in (5, 6, 7, 5, 6, 7):  # each changed twice, a webhook each time
            poster.sim.change("ingredient", poster_id, fields={"ingredient_name": f"burst {poster_id}"}, send=False)
            assert webhook_process(log_id=delivery(account, poster_id).pk).startswith("coalesced")
    finally:
        poster.sim.release_reads()
        thread.join(60)
    assert "error" not in result, result
    names = dict(Ingredient.objects.filter(account=account).values_list("poster_id", "name"))
    assert names == {1: "first", 5: "burst 5", 6: "burst 6", 7: "burst 7"}
    # Seven webhooks, two reads: the held one, then one list call for everything that came meanwhile.
    assert poster.sim.state["methods"] == ["menu.getIngredient", "menu.getIngredients"]


def test_a_second_change_within_the_same_second_is_not_lost_as_a_duplicate(poster, make_account, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Poster's ``time`` is in seconds: two changes of one object in one second send identical bodies."""
    account = make_account()
    queued: dict[str, list[tuple[Any, ...]]] = {"webhook": [], "refresh": []}  # tasks sent
    monkeypatch.setattr("poster_sync.tasks.webhook_process.delay", lambda *a: queued["webhook"].append(a))
    monkeypatch.setattr("poster_sync.tasks.object_refresh.delay", lambda *a: queued["refresh"].append(a))
    web = Client()
    second = int(time.time())

    def change(name: str) -> int:
        poster.sim.change("ingredient", 3, fields={"ingredient_name": name}, send=False)
        number = poster.sim.state["accounts"][account.account]["number"]
        body = poster.sim.webhook_body(
            account=account.account,
            account_number=number,
            object="ingredient",
            object_id="3",
            action="changed",
            at=second,
        )
        return web.post("/webhooks/poster/", data=json.dumps(body), content_type="application/json").status_code

    assert change("A") == 200
    log_id, marked = queued["webhook"].pop()
    poster.sim.hold_next_read("menu.getIngredient")
    thread, result = in_thread(lambda: webhook_process(log_id=log_id, marked=marked))
    try:
        wait_for(lambda: poster.sim.held_reads() == 1, timeout=30)
        assert change("B") == 200  # the same body: stored once, but the object is marked again
        # The reader in flight reads it: no other task is needed.
        assert WebhookLog.objects.count() == 1 and queued["refresh"] == [] and queued["webhook"] == []
    finally:
        poster.sim.release_reads()
        thread.join(60)
    assert "error" not in result, result
    assert Ingredient.objects.get(account=account, poster_id=3).name == "B"


def test_a_burst_of_webhooks_queues_one_reader_which_reads_once_and_marks_every_delivery_processed(  # type: ignore[no-untyped-def]
    poster, make_account, monkeypatch
) -> None:
    account = make_account()
    queued: list[tuple[Any, ...]] = []
    monkeypatch.setattr("poster_sync.tasks.webhook_process.delay", lambda *a: queued.append(a))
    number = poster.sim.state["accounts"][account.account]["number"]
    web = Client()
    for n, poster_id in enumerate((2, 3, 4, 3, 5)):  # a burst, one object twice
        poster.sim.change("ingredient", poster_id, fields={"ingredient_name": f"burst {n}"}, send=False)
        body = poster.sim.webhook_body(
            account=account.account,
            account_number=number,
            object="ingredient",
            object_id=str(poster_id),
            action="changed",
            at=1_700_000_000 + n,
        )
        assert web.post("/webhooks/poster/", data=json.dumps(body), content_type="application/json").status_code == 200
    # One reader queued for the burst (the others found it on its way), run after the burst arrived.
    assert len(queued) == 1
    ((log_id, marked),) = queued
    assert webhook_process(log_id=log_id, marked=marked) == "ingredients 2 updated"
    assert poster.sim.state["methods"] == ["menu.getIngredients"]  # one read for five webhooks
    names = dict(Ingredient.objects.filter(account=account).values_list("poster_id", "name"))
    assert names == {2: "burst 0", 3: "burst 3", 4: "burst 2", 5: "burst 4"}
    assert set(WebhookLog.objects.values_list("status", flat=True)) == {WebhookStatus.PROCESSED}


def test_a_full_sync_read_before_a_change_does_not_overwrite_the_webhooks_newer_value(poster, make_account) -> None:  # type: ignore[no-untyped-def]
    account = make_account()
    poster.sim.change("ingredient", 3, fields={"ingredient_name": "A"}, send=False)
    run = sync_run_create(merchant=account.merchant, kind="poster.ingredients", account=account)
    poster.sim.hold_next_read("menu.getIngredients")  # the nightly list, answered late
    thread, result = in_thread(lambda: entity_sync(run=run).status)
    try:
        wait_for(lambda: poster.sim.held_reads() == 1, timeout=30)
        poster.sim.change("ingredient", 3, fields={"ingredient_name": "B"}, send=False)
        assert webhook_process(log_id=delivery(account, 3).pk).startswith("coalesced")
    finally:
        poster.sim.release_reads()
        thread.join(60)
    assert result.get("outcome") == "succeeded", result
    assert Ingredient.objects.get(account=account, poster_id=3).name == "B"
    assert poster.sim.state["methods"] == ["menu.getIngredients", "menu.getIngredient"]  # the list, then 3 again
