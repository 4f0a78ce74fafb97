"""Admin: secrets never shown, "sync now" enqueued on the sync queue, "acknowledge", backup "restore"."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.test import override_settings
from django.urls import reverse

from core.models import SyncRun
from marketplaces.emag.models import EmagBackup, EmagOrder
from marketplaces.emag.services import backups
from marketplaces.emag.services.orders import order_store

pytestmark = pytest.mark.django_db


def test_account_pages_never_show_the_credentials(staff_client, make_account) -> None:
    account = make_account(api_user="user-visible-nowhere", api_password="pw-visible-nowhere")
    listing = staff_client.get(reverse("admin:marketplaces_emag_emagaccount_changelist")).content.decode()
    change = staff_client.get(reverse("admin:marketplaces_emag_emagaccount_change", args=[account.pk])).content.decode()
    for page in (listing, change):
        assert "pw-visible-nowhere" not in page and "user-visible-nowhere" not in page
    assert f"/webhooks/emag/{account.callback_token}/" in change


def test_sync_now_is_queued_and_does_not_block(
    staff_client, make_account, monkeypatch, django_capture_on_commit_callbacks
) -> None:
    account = make_account()
    sent: list[int] = []
    monkeypatch.setattr("marketplaces.emag.tasks.orders_sync.delay", lambda run_id: sent.append(run_id))
    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post(
            reverse("admin:marketplaces_emag_emagaccount_changelist"),
            {"action": "sync_now", "_selected_action": [account.pk]},
            follow=True,
        )
    run = SyncRun.objects.get()
    assert sent == [run.pk] and run.status == SyncRun.Status.QUEUED and run.account == account
    assert "queued" in response.content.decode()


def test_acknowledge_action_moves_new_orders_at_emag_and_here(staff_client, emag, make_account) -> None:
    sim = emag()
    account = make_account(sim)
    payload = sim.add_order()
    order, _ = order_store(account=account, payload=payload)
    staff_client.post(
        reverse("admin:marketplaces_emag_emagorder_changelist"),
        {"action": "acknowledge", "_selected_action": [order.pk]},
    )
    order.refresh_from_db()
    assert order.status == EmagOrder.Status.IN_PROGRESS and payload["id"] in sim.state["acknowledged"]
    page = staff_client.get(reverse("admin:marketplaces_emag_emagorder_change", args=[order.pk]))
    assert page.status_code == 200


def test_restore_action(staff_client, make_account, tmp_path: Path) -> None:
    with override_settings(EMAG_BACKUP_DIR=str(tmp_path)):
        backup = backups.backup_create(account=make_account())
        response = staff_client.post(
            reverse("admin:marketplaces_emag_emagbackup_changelist"),
            {"action": "restore", "_selected_action": [backup.pk]},
            follow=True,
        )
    assert "restored" in response.content.decode() and EmagBackup.objects.count() == 1
