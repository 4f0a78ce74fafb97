"""A run names its account by a relation (content type + id), carried over from the old text reference."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import IntegrityError, transaction

from core.models import SyncRun
from core.selectors import sync_run_account, sync_runs_of
from core.services import sync_run_create
from core.steps import AccountMissing, Step, sync_run_execute
from marketplaces.kaspi.models import KaspiStore
from tests.factories import MerchantFactory, VendistaAccountFactory
from tests.support.migrations import latest_nodes
from tests.support.migrations import migrate_to as _migrate
from vending.models import VendistaAccount

Status = SyncRun.Status


@pytest.mark.django_db
def test_a_run_names_its_account_object() -> None:
    account = VendistaAccountFactory()
    run = sync_run_create(merchant=account.merchant, kind="vending.transactions", account=account)
    stored = SyncRun.objects.get(pk=run.pk)
    assert stored.account == account and isinstance(stored.account, VendistaAccount)
    assert list(sync_runs_of(account)) == [stored]
    assert sync_run_account(run=stored, model=VendistaAccount) == account


@pytest.mark.django_db
def test_the_same_id_of_another_model_is_another_account() -> None:
    account = VendistaAccountFactory()
    store = KaspiStore.objects.create(merchant=account.merchant, name="s", merchant_uid="uid-1")
    KaspiStore.objects.filter(pk=store.pk).update(id=account.pk)  # the same number, another table
    store = KaspiStore.objects.get(pk=account.pk)
    run = sync_run_create(merchant=account.merchant, kind="kaspi.products", account=store)
    assert not sync_runs_of(account).exists() and list(sync_runs_of(store)) == [run]
    assert sync_run_account(run=run, model=VendistaAccount) is None


@pytest.mark.django_db
def test_a_run_has_its_account_type_and_id_together_or_neither() -> None:
    run = sync_run_create(merchant=MerchantFactory(), kind="test.sync")
    assert run.account is None and run.account_type_id is None
    with pytest.raises(IntegrityError), transaction.atomic():
        SyncRun.objects.filter(pk=run.pk).update(account_id=1)


@pytest.mark.django_db
def test_a_step_whose_run_names_no_account_of_its_model_fails_the_run() -> None:
    store = KaspiStore.objects.create(merchant=MerchantFactory(), name="s", merchant_uid="uid-2")
    run = sync_run_create(merchant=store.merchant, kind="test.sync", account=store)
    seen: list[Any] = []

    def step(current: Step) -> bool:
        seen.append(current.account(KaspiStore))
        current.account(VendistaAccount)  # the run is not of a Vendista account
        return True

    with pytest.raises(AccountMissing):
        sync_run_execute(run=run, step=step)
    stored = SyncRun.objects.get(pk=run.pk)
    assert seen == [store]
    assert stored.status == Status.FAILED and stored.error.startswith("AccountMissing:")


@pytest.mark.django_db
def test_each_step_reads_the_account_as_the_previous_step_left_it() -> None:
    account = VendistaAccountFactory(last_error="")
    run = sync_run_create(merchant=account.merchant, kind="test.sync", account=account)
    errors: list[str] = []

    def step(current: Step) -> bool:
        errors.append(current.account(VendistaAccount).last_error)
        VendistaAccount.objects.filter(pk=account.pk).update(last_error=f"step {len(errors)}")
        current.checkpoint(params={"steps": len(errors)})
        return len(errors) == 3

    sync_run_execute(run=run, step=step)
    assert errors == ["", "step 1", "step 2"]


# --- the data migration --------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_the_migration_carries_old_text_references_over_to_accounts() -> None:
    account = VendistaAccountFactory()
    merchant = account.merchant
    store = KaspiStore.objects.create(merchant=merchant, name="s", merchant_uid="uid-3")
    latest = latest_nodes()
    try:
        old = _migrate([("core", "0004_verbose_names")])
        OldRun = old.get_model("core", "SyncRun")
        refs = {
            "vending": ("vending.transactions", str(account.pk)),
            "kaspi": ("kaspi.products", str(store.pk)),
            "gone": ("vending.transactions", str(account.pk + 1000)),  # its account was deleted
            "text": ("kaspi.orders", "not-a-number"),
            "unowned": ("test.sync", "7"),  # no app's kind: the number names nothing
            "none": ("emag.orders", ""),
        }
        ids = {
            name: OldRun.objects.create(merchant_id=merchant.pk, kind=kind, account_ref=ref).pk
            for name, (kind, ref) in refs.items()
        }
        _migrate(latest)
        runs = {name: SyncRun.objects.get(pk=pk) for name, pk in ids.items()}
        assert runs["vending"].account == account
        assert runs["kaspi"].account == store
        for name in ("gone", "text", "unowned", "none"):
            assert (runs[name].account_type_id, runs[name].account_id) == (None, None), name
        assert list(sync_runs_of(account)) == [runs["vending"]]
    finally:
        _migrate(latest)
