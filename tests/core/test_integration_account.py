"""Every provider account is built on ``core.models.IntegrationAccount`` (issue 22), with its old
reverse name from ``Merchant`` and its old columns."""

from __future__ import annotations

import pytest
from django.db import models

from core.models import IntegrationAccount, Merchant, SyncedAccount
from marketplaces.emag.models import EmagAccount
from marketplaces.kaspi.models import KaspiStore
from poster_sync.models import PosterAccount
from vending.models import VendistaAccount


@pytest.mark.parametrize(
    ("model", "reverse_name", "synced"),
    [
        (VendistaAccount, "vendista_accounts", True),
        (EmagAccount, "emag_accounts", True),
        (PosterAccount, "poster_accounts", False),
        (KaspiStore, "kaspi_stores", False),
    ],
)
def test_a_provider_account_has_the_kit_fields_and_keeps_its_merchant_reverse_name(
    model: type[models.Model], reverse_name: str, synced: bool
) -> None:
    assert issubclass(model, IntegrationAccount) and issubclass(model, SyncedAccount) is synced
    columns = {f.name: f.column for f in model._meta.concrete_fields}
    kit = {"merchant": "merchant_id", "is_active": "is_active", "last_error": "last_error", "created_at": "created_at"}
    assert {name: columns.get(name) for name in kit} == kit
    assert ("last_sync_at" in columns) is synced
    assert Merchant._meta.get_field(reverse_name).related_model is model
