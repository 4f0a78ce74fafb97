"""Backup and restore (MKT-6): gzip JSON per account, identical restore, idempotent, retention."""

from __future__ import annotations

import gzip
import json
from datetime import timedelta
from pathlib import Path

import pytest
from django.test import override_settings
from django.utils import timezone

from marketplaces.emag.models import EmagBackup, EmagOffer, EmagOrder
from marketplaces.emag.services import backups, offers, orders
from marketplaces.emag.services.backups import account_snapshot

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def backup_dir(tmp_path: Path):
    with override_settings(EMAG_BACKUP_DIR=str(tmp_path / "backups")):
        yield tmp_path / "backups"


def _filled_account(emag, make_account):
    sim = emag(orders=6, offers=5)
    account = make_account(sim)
    sim.cancel_order(sorted(sim.state["orders"])[2], reason=61)
    orders.orders_sync(account=account)
    offers.offers_sync(account=account)
    return account


def test_backup_wipe_restore_gives_identical_data(emag, make_account, backup_dir) -> None:
    account = _filled_account(emag, make_account)
    before = account_snapshot(account=account)
    assert len(before["orders"]) == 6 and len(before["offers"]) == 5
    backup = backups.backup_create(account=account)
    document = json.loads(gzip.decompress((backup_dir / backup.file_name).read_bytes()))
    assert document["account"] == {"id": account.pk, "name": account.name, "platform": "ro"}
    assert account.api_password not in json.dumps(document) and account.api_user not in json.dumps(document)

    EmagOrder.objects.filter(account=account).delete()
    EmagOffer.objects.filter(account=account).delete()
    report = backups.backup_restore(backup=backup)
    assert report["restored"]["orders"] == {"created": 6, "updated": 0, "unchanged": 0}
    assert report["restored"]["offers"]["created"] == 5
    assert account_snapshot(account=account) == before

    again = backups.backup_restore(backup=backup)  # idempotent
    assert again["restored"]["orders"] == {"created": 0, "updated": 0, "unchanged": 6}
    assert again["restored"]["items"]["created"] == 0
    assert account_snapshot(account=account) == before


def test_restore_puts_back_rows_changed_since_the_backup(emag, make_account) -> None:
    account = _filled_account(emag, make_account)
    backup = backups.backup_create(account=account)
    before = account_snapshot(account=account)
    EmagOrder.objects.filter(account=account).update(customer_name="changed")
    report = backups.backup_restore(backup=backup)
    assert report["restored"]["orders"]["updated"] == 6
    assert account_snapshot(account=account) == before


def test_a_tampered_backup_is_refused(emag, make_account, backup_dir) -> None:
    account = _filled_account(emag, make_account)
    backup = backups.backup_create(account=account)
    (backup_dir / backup.file_name).write_bytes(gzip.compress(b'{"format": 1, "orders": [], "offers": []}'))
    with pytest.raises(ValueError, match="checksum"):
        backups.backup_restore(backup=backup)


def test_retention_deletes_only_old_backups(make_account, backup_dir) -> None:
    account = make_account()
    other = make_account()
    old, recent, fresh = (backups.backup_create(account=account) for _ in range(3))
    foreign_old = backups.backup_create(account=other)
    EmagBackup.objects.filter(pk__in=[old.pk, foreign_old.pk]).update(created_at=timezone.now() - timedelta(days=31))
    EmagBackup.objects.filter(pk=recent.pk).update(created_at=timezone.now() - timedelta(days=29))
    result = backups.backups_cleanup(account=account)
    assert result["deleted"] == 1 and result["retention_days"] == 30
    assert not (backup_dir / old.file_name).exists()
    assert (backup_dir / recent.file_name).exists() and (backup_dir / fresh.file_name).exists()
    assert (backup_dir / foreign_old.file_name).exists()  # another account's backups are its own business
    assert set(EmagBackup.objects.values_list("pk", flat=True)) == {recent.pk, fresh.pk, foreign_old.pk}


def test_daily_job_backs_up_enabled_accounts(make_account) -> None:
    on = make_account()
    make_account(backup_enabled=False)
    result = backups.backups_daily()
    assert [EmagBackup.objects.get(pk=pk).account_id for pk in result["created"]] == [on.pk]
    schedule = backups.backup_schedule(account=on)
    assert schedule["frequency"] == "daily" and schedule["time_utc"] == "02:17" and schedule["retention_days"] == 30
