"""Backup and restore of an account's eMAG data as gzip JSON (SPEC MKT-6).

A backup holds the account's orders (with their lines) and offers, every column but our own ids and
never a credential. Restore is an upsert by eMAG id, so running it twice changes nothing the second
time; it reports per table how many rows it created, updated and left unchanged.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import secrets
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models, transaction
from django.utils import timezone

from ..models import EmagAccount, EmagBackup, EmagOffer, EmagOrder, EmagOrderItem

FORMAT_VERSION = 1
_SKIP = {"id", "account", "order", "first_seen_at", "synced_at", "updated_at"}


class _Encoder(DjangoJSONEncoder):
    """Django's encoder cuts datetimes to milliseconds; a backup keeps every microsecond."""

    def default(self, o: Any) -> Any:
        if isinstance(o, datetime):
            return o.isoformat()
        return super().default(o)


def backup_root() -> Path:
    return Path(settings.EMAG_BACKUP_DIR)


def backup_path(backup: EmagBackup) -> Path:
    path = (backup_root() / backup.file_name).resolve()
    if backup_root().resolve() not in path.parents:
        raise ValueError("backup file outside the backup directory")
    return path


def _fields(model: type[models.Model]) -> list[models.Field[Any, Any]]:
    return [f for f in model._meta.concrete_fields if f.name not in _SKIP]


def _row(obj: models.Model) -> dict[str, Any]:
    return {f.name: f.value_from_object(obj) for f in _fields(type(obj))}


def account_snapshot(*, account: EmagAccount) -> dict[str, Any]:
    """The account's data as plain JSON-able dicts (also what tests compare)."""
    orders = []
    for order in EmagOrder.objects.filter(account=account).order_by("emag_id").prefetch_related("items"):
        row = _row(order)
        row["items"] = [_row(item) for item in sorted(order.items.all(), key=lambda i: i.line_id)]
        orders.append(row)
    offers = [_row(o) for o in EmagOffer.objects.filter(account=account).order_by("emag_id")]
    return json.loads(json.dumps({"orders": orders, "offers": offers}, cls=_Encoder))


def backup_create(*, account: EmagAccount, kind: str = EmagBackup.Kind.MANUAL) -> EmagBackup:
    now = timezone.now()
    snapshot = account_snapshot(account=account)
    document = {
        "format": FORMAT_VERSION,
        "created_at": now.isoformat(),
        "account": {"id": account.pk, "name": account.name, "platform": account.platform},
        **snapshot,
    }
    payload = gzip.compress(json.dumps(document, cls=_Encoder, ensure_ascii=False).encode(), mtime=0)
    name = f"{account.pk}/emag-{account.pk}-{now:%Y%m%dT%H%M%S}-{secrets.token_hex(4)}.json.gz"
    backup = EmagBackup(
        account=account,
        kind=kind,
        file_name=name,
        size_bytes=len(payload),
        sha256=hashlib.sha256(payload).hexdigest(),
        created_at=now,
        counts={
            "orders": len(snapshot["orders"]),
            "offers": len(snapshot["offers"]),
            "items": sum(len(o["items"]) for o in snapshot["orders"]),
        },
    )
    path = backup_path(backup)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    partial.write_bytes(payload)
    partial.replace(path)  # a crash never leaves a half-written backup under the final name
    backup.save()
    return backup


def backup_read(*, backup: EmagBackup) -> dict[str, Any]:
    payload = backup_path(backup).read_bytes()
    if hashlib.sha256(payload).hexdigest() != backup.sha256:
        raise ValueError(f"backup {backup.pk} does not match its checksum; not restoring it")
    document: dict[str, Any] = json.loads(gzip.decompress(payload))
    if document.get("format") != FORMAT_VERSION:
        raise ValueError(f"backup {backup.pk} has an unknown format {document.get('format')!r}")
    return document


def _values(model: type[models.Model], row: dict[str, Any]) -> dict[str, Any]:
    return {f.name: f.to_python(row[f.name]) for f in _fields(model) if f.name in row}


def _upsert(
    model: type[models.Model], lookup: dict[str, Any], values: dict[str, Any], counts: dict[str, int]
) -> models.Model:
    obj = model._default_manager.filter(**lookup).first()
    if obj is None:
        obj = model._default_manager.create(**lookup, **values)
        counts["created"] += 1
        return obj
    changed = [name for name, value in values.items() if getattr(obj, name) != value]
    if changed:
        for name in changed:
            setattr(obj, name, values[name])
        obj.save()
        counts["updated"] += 1
    else:
        counts["unchanged"] += 1
    return obj


@transaction.atomic
def backup_restore(*, backup: EmagBackup) -> dict[str, Any]:
    document = backup_read(backup=backup)
    account = backup.account
    report = {table: {"created": 0, "updated": 0, "unchanged": 0} for table in ("orders", "items", "offers")}
    for row in document["orders"]:
        values = _values(EmagOrder, row)
        emag_id = values.pop("emag_id")
        order = _upsert(EmagOrder, {"account": account, "emag_id": emag_id}, values, report["orders"])
        for item_row in row.get("items", []):
            item_values = _values(EmagOrderItem, item_row)
            line_id = item_values.pop("line_id")
            _upsert(EmagOrderItem, {"order": order, "line_id": line_id}, item_values, report["items"])
    for row in document["offers"]:
        values = _values(EmagOffer, row)
        emag_id = values.pop("emag_id")
        _upsert(EmagOffer, {"account": account, "emag_id": emag_id}, values, report["offers"])
    return {"backup": backup.pk, "account": account.pk, "restored": report}


def backups_cleanup(*, account: EmagAccount, retention_days: int | None = None) -> dict[str, Any]:
    """Delete this account's backups older than the retention (files and records); keep the rest."""
    days = retention_days if retention_days is not None else account.backup_retention_days
    cutoff = timezone.now() - timedelta(days=days)
    deleted = []
    for backup in EmagBackup.objects.filter(account=account, created_at__lt=cutoff):
        path = backup_path(backup)
        path.unlink(missing_ok=True)
        deleted.append(backup.file_name)
        backup.delete()
    kept = EmagBackup.objects.filter(account=account).count()
    return {
        "account": account.pk,
        "retention_days": days,
        "deleted": len(deleted),
        "deleted_files": deleted,
        "kept": kept,
    }


def backup_schedule(*, account: EmagAccount) -> dict[str, Any]:
    from core.scheduling import registered_jobs

    job = next((j for j in registered_jobs() if j.name == "marketplaces.emag.backups_daily"), None)
    crontab = job.crontab if job and job.crontab else {}
    return {
        "account": account.pk,
        "enabled": account.backup_enabled,
        "retention_days": account.backup_retention_days,
        "frequency": "daily",
        "time_utc": f"{int(crontab.get('hour', 0)):02d}:{int(crontab.get('minute', 0)):02d}",
        "last_backup_at": EmagBackup.objects.filter(account=account).values_list("created_at", flat=True).first(),
    }


def backup_schedule_update(
    *, account: EmagAccount, enabled: bool | None = None, retention_days: int | None = None
) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    if enabled is not None:
        changes["backup_enabled"] = enabled
    if retention_days is not None:
        changes["backup_retention_days"] = retention_days
    if changes:
        EmagAccount.objects.filter(pk=account.pk).update(**changes)
        account.refresh_from_db()
    return backup_schedule(account=account)


def backups_daily() -> dict[str, Any]:
    created, cleaned = [], 0
    for account in EmagAccount.objects.filter(is_active=True, backup_enabled=True):
        created.append(backup_create(account=account, kind=EmagBackup.Kind.SCHEDULED).pk)
        cleaned += backups_cleanup(account=account)["deleted"]
    return {"created": created, "deleted": cleaned}
