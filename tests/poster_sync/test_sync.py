"""Entity syncs against the Poster simulator: typed columns from strings, soft delete, smart vs force,
manual rate limit, error 700 and token errors, each sync a SyncRun (POS-2, POS-3)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core import mail
from django.utils import timezone

from core.exceptions import TransientError
from core.models import SyncRun
from core.services import sync_run_create
from poster_sync.clients.poster import PosterClient, PosterRateLimited, PosterTokenError
from poster_sync.models import Category, Ingredient, Storage, Supplier, SyncStatus, WebhookLog, WebhookStatus
from poster_sync.services import sync
from poster_sync.services.webhooks import webhook_process
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def run_entity(account, entity: str) -> SyncRun:  # type: ignore[no-untyped-def]
    run = sync_run_create(merchant=account.merchant, kind=f"poster.{entity}", account=account, mode="force")
    return sync.entity_sync(run=run)


def test_full_sync_casts_poster_strings_into_typed_columns_and_keeps_the_raw_item(poster, make_account) -> None:  # type: ignore[no-untyped-def]
    account = make_account()
    for entity in sync.ENTITY_NAMES:
        run = run_entity(account, entity)
        assert run.status == SyncRun.Status.SUCCEEDED and run.items_done == run.items_total
    raw = poster.sim.catalogue()["ingredients"]["2"]
    ingredient = Ingredient.objects.get(account=account, poster_id=2)
    assert ingredient.left == Decimal(raw["ingredient_left"]) and ingredient.category_poster_id == int(
        raw["category_id"]
    )
    assert ingredient.hidden is False and ingredient.ingredient_type == 1 and ingredient.raw == raw
    assert Supplier.objects.get(account=account, poster_id=1).address == "Алматы, ул. 1"  # supplier_adress [sic]
    section = Category.objects.get(account=account, poster_id=3)
    assert section.parent_poster_id == 1 and Category.objects.get(poster_id=1).parent_poster_id is None
    assert Ingredient.objects.filter(account=account).count() == 12 and Storage.objects.count() == 2
    status = SyncStatus.objects.get(account=account, entity="ingredients")
    assert status.sync_count == 1 and status.items_count == 12 and status.last_success_at and not status.last_error
    # Running it again changes nothing (an idempotent upsert).
    run_entity(account, "ingredients")
    assert Ingredient.objects.filter(account=account).count() == 12


def test_object_removed_at_poster_is_soft_deleted_by_the_full_sync_and_by_its_webhook(poster, make_account) -> None:  # type: ignore[no-untyped-def]
    account = make_account()
    run_entity(account, "ingredients")
    poster.sim.change("ingredient", 5, action="removed", send=False)
    run_entity(account, "ingredients")
    removed = Ingredient.objects.get(account=account, poster_id=5)
    assert removed.removed_at is not None and Ingredient.objects.filter(removed_at__isnull=True).count() == 11
    # A removed webhook soft-deletes without asking Poster; the row stays.
    entry = WebhookLog.objects.create(
        account=account,
        account_name=account.account,
        object="storage",
        object_id="2",
        action="removed",
        signature_valid=True,
        delivery_key="k1",
    )
    run_entity(account, "storages")
    assert webhook_process(log_id=entry.pk) == "storages 2 removed"
    assert Storage.objects.get(account=account, poster_id=2).removed_at is not None
    # Poster marking an item delete = "1" soft-deletes it too; reappearing undeletes it.
    poster.sim.change("ingredient", 5, fields={"ingredient_name": "Back", "delete": "0"}, send=False)
    poster.sim.change("ingredient", 6, fields={"delete": "1"}, send=False)
    run_entity(account, "ingredients")
    assert Ingredient.objects.get(account=account, poster_id=5).removed_at is None
    assert Ingredient.objects.get(account=account, poster_id=6).removed_at is not None


def test_smart_sync_skips_fresh_entities_and_force_syncs_them(poster, make_account) -> None:  # type: ignore[no-untyped-def]
    account = make_account()
    now = timezone.now()
    SyncStatus.objects.create(account=account, entity="suppliers", last_success_at=now - timedelta(hours=2))
    SyncStatus.objects.create(account=account, entity="storages", last_success_at=now - timedelta(hours=25))
    runs = sync.sync_request(account=account, entities=["suppliers", "storages"], manual=False)
    assert runs["suppliers"] is None and runs["storages"] is not None
    assert runs["storages"].mode == "smart" and runs["storages"].status == SyncRun.Status.QUEUED
    forced = sync.sync_request(account=account, entities=["suppliers", "storages"], force=True, manual=False)
    assert all(run is not None and run.mode == "force" for run in forced.values())
    assert sync.sync_status(account=account)["suppliers"] == {
        "lastSyncAt": (now - timedelta(hours=2)).isoformat().replace("+00:00", "Z"),
        "needsSync": False,
        "age": 120,
    }


def test_manual_sync_is_rate_limited_per_account_and_entity(poster, make_account) -> None:  # type: ignore[no-untyped-def]
    account = make_account()
    other = make_account(name="second-cafe")
    sync.sync_request(account=account, entities=["suppliers"], force=True)
    with pytest.raises(sync.SyncRateLimited) as limited:
        sync.sync_request(account=account, entities=["suppliers"], force=True)
    assert limited.value.entity == "suppliers" and 1 <= limited.value.retry_after <= 60
    # Another entity of the same account, and the same entity of another account, are not limited.
    assert sync.sync_request(account=account, entities=["storages"], force=True)["storages"] is not None
    assert sync.sync_request(account=other, entities=["suppliers"], force=True)["suppliers"] is not None
    # A request naming a limited entity queues nothing at all.
    before = SyncRun.objects.count()
    with pytest.raises(sync.SyncRateLimited):
        sync.sync_request(account=account, entities=["ingredients", "suppliers"], force=True)
    assert SyncRun.objects.count() == before


def test_error_700_is_retried_with_backoff_then_succeeds(poster, make_account) -> None:  # type: ignore[no-untyped-def]
    account = make_account()
    poster.sim.restrict_next(2)
    client = PosterClient(base_url=poster.api_url, token=str(account.access_token), sleep=lambda s: None)
    assert len(client.suppliers()) == 3
    assert poster.sim.state["methods"].count("storage.getSuppliers") == 3


def test_persistent_error_700_leaves_the_run_retrying_and_its_retry_ends_it_done(poster, make_account) -> None:  # type: ignore[no-untyped-def]
    account = make_account()
    poster.sim.restrict_next(100)
    client = PosterClient(base_url=poster.api_url, token=str(account.access_token), sleep=lambda s: None)
    with pytest.raises(PosterRateLimited) as raised:
        client.storages()
    assert isinstance(raised.value, TransientError) and not raised.value.permanent
    run = sync_run_create(merchant=account.merchant, kind="poster.storages", account=account)
    with pytest.raises(TransientError):
        sync.entity_sync(run=run, client=client)
    run.refresh_from_db()
    assert run.status == SyncRun.Status.RETRYING and "700" in run.error  # visibly retrying, not failed
    poster.sim.restrict_next(0)
    run = sync.entity_sync(run=run, client=client)  # the retry of the same run
    assert run.status == SyncRun.Status.SUCCEEDED and run.error == "" and run.attempts == 1
    assert run.items_done == run.counters["received"] == 2  # the sandbox's two storages, counted once


@pytest.mark.parametrize("token, code", [("", 10), ("999:unknown", 11), ("expired", 12)])
def test_token_errors_are_permanent_and_ask_to_reconnect(poster, make_account, token, code) -> None:  # type: ignore[no-untyped-def]
    account = make_account()
    if token == "expired":
        poster.sim.expire_tokens()
    else:
        account.access_token = token
        account.save()
    client = PosterClient(base_url=poster.api_url, token=str(account.access_token))
    with pytest.raises(PosterTokenError) as raised:
        client.suppliers()
    assert raised.value.permanent and raised.value.code == str(code)
    run = sync_run_create(merchant=account.merchant, kind="poster.suppliers", account=account)
    with pytest.raises(PosterTokenError):
        sync.entity_sync(run=run)
    account.refresh_from_db()
    run.refresh_from_db()
    assert run.status == SyncRun.Status.FAILED and "Reconnect" in account.last_error
    assert account.needs_reconnect  # an alert condition (OWN-3), cleared by a sync that works again
    assert SyncStatus.objects.get(account=account, entity="suppliers").consecutive_failures == 1


def test_a_webhook_refused_for_its_token_asks_to_reconnect_and_a_working_sync_clears_it(poster, make_account) -> None:  # type: ignore[no-untyped-def]
    account = make_account()
    poster.sim.expire_tokens()
    entry = WebhookLog.objects.create(
        account=account, account_name=account.account, object="ingredient", object_id="5", action="changed",
        signature_valid=True, delivery_key="tok1",
    )  # fmt: skip
    assert webhook_process(log_id=entry.pk, final=True) == "failed"
    account.refresh_from_db()
    assert account.needs_reconnect and "Reconnect" in account.last_error

    account.access_token = poster.sim.add_account(account.account)  # the owner connected it again
    account.save()
    run_entity(account, "storages")
    account.refresh_from_db()
    assert not account.needs_reconnect and account.last_error == ""


def test_staff_get_one_email_after_repeated_failures_and_success_resets(poster, make_account, settings) -> None:  # type: ignore[no-untyped-def]
    settings.POSTER_ALERT_AFTER_FAILURES = 3
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    UserFactory(username="ops", email="ops@example.test", is_staff=True)
    account = make_account()
    poster.sim.faults.error_rate = 1.0  # Poster answers 500 to everything
    poster.sim.faults.error_status = 500
    entries = [
        WebhookLog.objects.create(
            account=account,
            account_name=account.account,
            object="ingredient",
            object_id=str(i),
            action="changed",
            signature_valid=True,
            delivery_key=f"k{i}",
        )
        for i in range(5)
    ]
    for entry in entries:
        assert webhook_process(log_id=entry.pk, final=True) == "failed"
    assert {e.status for e in WebhookLog.objects.all()} == {WebhookStatus.FAILED}
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["ops@example.test"]
    assert "ingredients" in mail.outbox[0].subject and account.account in mail.outbox[0].subject
    assert str(account.access_token) not in mail.outbox[0].body
    poster.sim.faults.error_rate = 0.0
    run_entity(account, "ingredients")
    status = SyncStatus.objects.get(account=account, entity="ingredients")
    assert status.consecutive_failures == 0 and status.alerted_at is None


def test_daily_job_at_03_00_syncs_every_entity_of_active_accounts(poster, make_account) -> None:  # type: ignore[no-untyped-def]
    from core.scheduling import registered_jobs

    job = next(j for j in registered_jobs() if j.name == "poster_sync.sync_daily")
    assert job.crontab == {"minute": "0", "hour": "3"} and job.task == "poster_sync.tasks.sync_daily"
    active = make_account()
    make_account(name="paused-cafe", is_active=False)
    SyncStatus.objects.create(account=active, entity="suppliers", last_success_at=timezone.now())
    run_ids = sync.sync_scheduled_all()
    runs = SyncRun.objects.filter(pk__in=run_ids)
    assert sorted(r.kind for r in runs) == sorted(f"poster.{e}" for e in sync.ENTITY_NAMES)
    assert {r.account for r in runs} == {active} and {r.mode for r in runs} == {"scheduled"}


def test_crash_leftovers_are_found_by_the_sweep(poster, make_account) -> None:  # type: ignore[no-untyped-def]
    from poster_sync.services.webhooks import webhooks_sweep

    account = make_account()
    old = timezone.now() - timedelta(minutes=30)
    run = sync_run_create(merchant=account.merchant, kind="poster.storages", account=account)
    SyncRun.objects.filter(pk=run.pk).update(created_at=old)
    fresh = sync_run_create(merchant=account.merchant, kind="poster.suppliers", account=account)
    assert sync.runs_stuck() == [run.pk] and fresh.pk not in sync.runs_stuck()
    lost = WebhookLog.objects.create(
        account=account, object="ingredient", object_id="1", action="changed", signature_valid=True, delivery_key="lost"
    )
    stuck = WebhookLog.objects.create(
        account=account,
        object="ingredient",
        object_id="2",
        action="changed",
        signature_valid=True,
        delivery_key="stuck",
        status=WebhookStatus.PROCESSING,
        attempts=1,
    )
    WebhookLog.objects.filter(pk__in=[lost.pk, stuck.pk]).update(received_at=old, updated_at=old)
    # The one inbox sweep: the stuck one goes to retry (a real status, no longer an error string),
    # then both are taken and processed once.
    assert webhooks_sweep() == 2
    lost.refresh_from_db()
    stuck.refresh_from_db()
    assert (lost.status, lost.attempts) == (WebhookStatus.PROCESSED, 1)
    assert (stuck.status, stuck.attempts, stuck.last_error) == (WebhookStatus.PROCESSED, 2, "ingredients 2 updated")
    assert webhooks_sweep() == 0
