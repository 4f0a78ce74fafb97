"""eMAG backups live where every process sees them (issue 21): the daily backup written by a sync
worker process is listed and restored by the web process, through the storage docker-compose.yml
mounts in both (the "backups" volume at EMAG_BACKUP_DIR; tests/test_docker_compose.py checks it)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from django.test import override_settings

from marketplaces.emag.models import EmagBackup, EmagOrder
from marketplaces.emag.services import backups, offers, orders
from marketplaces.emag.tasks import backups_daily
from tests.factories import owner_client

BASE = "/api/v1/marketplaces/emag/management"


@pytest.mark.slow
def test_a_backup_made_by_the_worker_is_listed_and_restored_by_web(
    emag, make_account, start_worker, tmp_path: Path
) -> None:
    volume = tmp_path / "backups-volume" / "emag"  # one folder, as the named volume is in both containers
    sim = emag(orders=4, offers=2)
    account = make_account(sim)
    orders.orders_sync(account=account)
    offers.offers_sync(account=account)
    before = backups.account_snapshot(account=account)

    worker = start_worker(queues="sync,default", extra_env={"EMAG_BACKUP_DIR": str(volume)})
    backups_daily.delay()  # what beat sends every night; worker-sync runs it
    deadline = time.monotonic() + 60
    while not EmagBackup.objects.filter(account=account).exists():
        assert time.monotonic() < deadline, worker.log()
        time.sleep(0.2)
    made = EmagBackup.objects.get(account=account)
    assert (volume / made.file_name).exists()

    with override_settings(EMAG_BACKUP_DIR=str(volume)):  # the web process, another container
        client, _, _ = owner_client(account.merchant)
        listed = client.get(f"{BASE}/backup/list", {"account": account.pk}).json()["results"]
        assert [b["id"] for b in listed] == [made.pk]
        EmagOrder.objects.filter(account=account).delete()
        restored = client.post(f"{BASE}/backup/restore", {"account": account.pk, "backup": made.pk}, format="json")
        assert restored.status_code == 200, restored.content
        assert restored.json()["restored"]["orders"]["created"] == 4
    assert backups.account_snapshot(account=account) == before
