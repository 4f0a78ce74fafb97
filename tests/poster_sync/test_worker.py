"""A change at Poster → signed webhook → our view → a real Celery worker → the object in the database (POS-4)."""

from __future__ import annotations

import threading
import time

import pytest

from core.models import SyncRun
from poster_sync.models import Ingredient, WebhookLog, WebhookStatus
from poster_sync.services import sync
from tests.support.waiting import wait_for

pytestmark = pytest.mark.slow


def test_change_at_poster_reaches_the_database_through_webhook_and_worker(  # type: ignore[no-untyped-def]
    poster, make_account, live_server, celery_worker
) -> None:
    account = make_account()
    sync.entity_sync(run=sync.run_enqueue(account=account, entity="ingredients", mode="force"))
    poster.sim.webhook_url = f"{live_server.url}/webhooks/poster/"

    sent = poster.sim.change("ingredient", 7, fields={"ingredient_name": "Овсяное молоко", "ingredient_left": "3.5"})
    assert poster.sim.state["deliveries"][-1]["status"] == 200
    ingredient = wait_for(
        lambda: Ingredient.objects.filter(account=account, poster_id=7, name="Овсяное молоко").first(), timeout=30
    )
    assert str(ingredient.left) == "3.5000"
    entry = wait_for(
        lambda: WebhookLog.objects.filter(object_id="7", status=WebhookStatus.PROCESSED).first(), timeout=30
    )
    assert entry.status == WebhookStatus.PROCESSED and entry.attempts == 1 and entry.payload["verify"] == sent["verify"]

    # Poster's redelivery of the same webhook is accepted and not processed again.
    assert poster.sim.send(sent) == 200
    # A form-encoded delivery of a removal soft-deletes the row.
    poster.sim.change("ingredient", 8, action="removed", form=True)
    wait_for(
        lambda: Ingredient.objects.filter(account=account, poster_id=8, removed_at__isnull=False).exists(), timeout=30
    )
    # A forged delivery is refused and changes nothing.
    poster.sim.change("ingredient", 9, fields={"ingredient_name": "forged"}, forged=True)
    assert poster.sim.state["deliveries"][-1]["status"] == 403
    time.sleep(0.5)
    assert Ingredient.objects.get(account=account, poster_id=9).name != "forged"
    assert WebhookLog.objects.filter(object_id="7").count() == 1
    assert WebhookLog.objects.get(object_id="7").attempts == 1


def test_transient_failure_is_retried_by_the_worker_until_it_succeeds(  # type: ignore[no-untyped-def]
    poster, make_account, live_server, celery_worker
) -> None:
    account = make_account()
    poster.sim.webhook_url = f"{live_server.url}/webhooks/poster/"
    poster.sim.restrict_next(6)  # error 700 for longer than the client's own retries: the task retries
    poster.sim.change("ingredient", 2, fields={"ingredient_name": "После ретрая"})
    wait_for(lambda: Ingredient.objects.filter(account=account, poster_id=2, name="После ретрая").exists(), timeout=60)
    entry = wait_for(
        lambda: WebhookLog.objects.filter(object_id="2", status=WebhookStatus.PROCESSED).first(), timeout=30
    )
    assert entry.status == WebhookStatus.PROCESSED and entry.attempts >= 2


def test_a_sync_run_hit_by_a_lasting_rate_restriction_is_visibly_retrying_then_done(  # type: ignore[no-untyped-def]
    poster, make_account, celery_worker
) -> None:
    """Issue 19: a transient failure leaves the run RETRYING with its error (not failed, not silently
    running), and the worker's retry of the same run ends it done with its counters counted once."""
    account = make_account()
    poster.sim.restrict_next(4)  # error 700 for all of the client's own attempts: the run's retry gets through
    run = sync.run_enqueue(account=account, entity="storages", mode="force")  # autocommit: enqueued at once
    retrying = wait_for(lambda: SyncRun.objects.filter(pk=run.pk, status=SyncRun.Status.RETRYING).first(), 60)
    assert "700" in retrying.error and retrying.attempts == 1
    done = wait_for(
        lambda: SyncRun.objects.filter(pk=run.pk, status__in=[SyncRun.Status.SUCCEEDED, SyncRun.Status.FAILED]).first(),
        60,
    )
    assert (done.status, done.error, done.attempts) == (SyncRun.Status.SUCCEEDED, "", 1)
    assert done.items_done == done.counters["received"] == 2  # the sandbox's two storages, counted once


def test_bursts_of_two_accounts_through_the_worker_end_with_the_newest_values_and_few_reads(  # type: ignore[no-untyped-def]
    poster, make_account, live_server, celery_worker
) -> None:
    first, second = make_account(), make_account(name="second-coffee")
    poster.sim.webhook_url = f"{live_server.url}/webhooks/poster/"
    before = poster.sim.request_count
    final: dict[tuple[str, int], str] = {}
    threads = []
    for account, ids in ((first, [1, 2, 3, 4, 5, 6, 7, 8]), (second, [1, 2])):
        for n in range(2):  # each object changed twice, a webhook each time, all at once
            for poster_id in ids:
                name = f"{account.account} {poster_id} v{n}"
                final[(account.account, poster_id)] = name
                poster.sim.change(
                    "ingredient", poster_id, fields={"ingredient_name": name}, account=account.account, send=False
                )
                body = poster.sim.webhook_body(
                    account=account.account,
                    account_number=account.account_number,
                    object="ingredient",
                    object_id=str(poster_id),
                    action="changed",
                    at=1_700_000_000 + n,
                )
                threads.append(threading.Thread(target=poster.sim.deliver, args=(body,)))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert all(d["status"] == 200 for d in poster.sim.state["deliveries"])

    def stored() -> dict[tuple[str, int], str]:
        rows = Ingredient.objects.filter(account__in=[first, second]).values_list(
            "account__account", "poster_id", "name"
        )
        return {(account, poster_id): name for account, poster_id, name in rows}

    wait_for(lambda: stored() == final, timeout=30)
    wait_for(lambda: not WebhookLog.objects.exclude(status=WebhookStatus.PROCESSED).exists(), timeout=30)
    assert WebhookLog.objects.count() == len(threads)
    # 20 webhooks: the reads are a few per account (one per moment a reader found changes), not 20.
    assert poster.sim.request_count - before <= len(threads) // 2, poster.sim.state["methods"]
