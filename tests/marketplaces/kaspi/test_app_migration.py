"""Kaspi became its own app (``kaspi``): a database migrated on the code from before keeps its rows.

Each test migrates back to the state before the move (marketplaces 0002, repricer 0003, no kaspi
migration, alerts 0003), writes rows through the historical models of that state, migrates forward, and reads
them through today's models. The migrations change no table, so the rows are the same rows.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.urls import reverse

from marketplaces.kaspi.models import KaspiProduct, KaspiStore
from repricer.models import RepricingRule
from tests.support.migrations import latest_nodes
from tests.support.migrations import migrate_to as _migrate

pytestmark = [pytest.mark.django_db(transaction=True)]

BEFORE = [
    ("kaspi", None),
    ("marketplaces", "0002_verbose_names"),
    ("repricer", "0003_verbose_names"),
    ("alerts", "0003_verbose_names"),
]
MOVED = ("kaspistore", "kaspiproduct", "kaspiorder", "kaspiorderentry", "preorder")


def _before() -> Any:
    """Migrate back to the state before the move; its historical models."""
    _migrate(BEFORE)
    nodes = [(app, name) for app, name in BEFORE if name is not None]
    return MigrationExecutor(connection).loader.project_state(nodes, at_end=True).apps


@pytest.fixture
def old_apps() -> Any:
    latest = latest_nodes()
    try:
        yield _before()
    finally:
        _migrate(latest)


def _old_rows(old: Any) -> tuple[Any, Any, Any]:
    merchant = old.get_model("core", "Merchant").objects.create(slug="before-the-move", name="Before the move")
    store = old.get_model("marketplaces", "KaspiStore").objects.create(
        merchant=merchant, name="Old store", cabinet_email="owner@example.com", cabinet_password="secret-pw"
    )
    product = old.get_model("marketplaces", "KaspiProduct").objects.create(store=store, sku="SKU-1", price=1500)
    rule = old.get_model("repricer", "RepricingRule").objects.create(product=product, min_price=1000, max_price=2000)
    old.get_model("repricer", "StoreRepricing").objects.create(store=store, is_paused=True)
    return store, product, rule


def test_the_rows_made_before_the_move_are_read_through_the_kaspi_app_and_the_repricer(old_apps: Any) -> None:
    store, product, rule = _old_rows(old_apps)
    OldContentType = old_apps.get_model("contenttypes", "ContentType")
    before = dict(OldContentType.objects.filter(app_label="marketplaces", model__in=MOVED).values_list("model", "id"))
    assert set(before) == set(MOVED)

    _migrate(latest_nodes())

    moved = KaspiStore.objects.get(pk=store.pk)
    assert (moved.name, moved.cabinet_password) == ("Old store", "secret-pw")
    assert KaspiProduct.objects.get(pk=product.pk).store == moved
    repriced = RepricingRule.objects.select_related("product__store").get(pk=rule.pk)
    assert (repriced.product.pk, repriced.product.sku, repriced.product.store.pk) == (product.pk, "SKU-1", store.pk)
    assert moved.repricing.is_paused  # the repricer's one-to-one, from the store's side
    # The same content type rows, relabelled: nothing refers to a new id.
    ContentType.objects.clear_cache()
    after = dict(ContentType.objects.filter(app_label="kaspi", model__in=MOVED).values_list("model", "id"))
    assert after == before
    assert not ContentType.objects.filter(app_label="marketplaces").exists()
    assert ContentType.objects.get_for_model(KaspiStore).pk == before["kaspistore"]


def test_a_content_type_made_by_the_new_code_before_the_migration_is_folded_into_the_old_row(old_apps: Any) -> None:
    """The new code on a database not yet migrated makes ``kaspi.kaspistore`` when it first needs it
    (an admin log entry): the migration moves what points at it to the old row and drops it."""
    store, _, _ = _old_rows(old_apps)
    OldContentType = old_apps.get_model("contenttypes", "ContentType")
    old_row = OldContentType.objects.get(app_label="marketplaces", model="kaspistore")
    early = OldContentType.objects.create(app_label="kaspi", model="kaspistore")
    user = old_apps.get_model("core", "User").objects.create(username="early-staff", is_staff=True)
    entry = LogEntry.objects.create(  # the admin log's table is the same before and after
        user_id=user.pk, content_type_id=early.pk, object_id=str(store.pk), object_repr="Old store", action_flag=2
    )

    _migrate(latest_nodes())

    ContentType.objects.clear_cache()
    rows = ContentType.objects.filter(model="kaspistore").values_list("id", "app_label")
    assert list(rows) == [(old_row.pk, "kaspi")]
    assert LogEntry.objects.get(pk=entry.pk).get_edited_object() == KaspiStore.objects.get(pk=store.pk)


def test_the_move_migrates_back_to_the_old_labels_with_the_same_ids(old_apps: Any) -> None:
    """Reversible: back before the move, the rows carry the old label again under the same ids."""
    latest = latest_nodes()
    _migrate(latest)
    ids = dict(ContentType.objects.filter(app_label="kaspi", model__in=MOVED).values_list("model", "id"))
    assert set(ids) == set(MOVED)

    old = _before()

    back = old.get_model("contenttypes", "ContentType").objects.filter(model__in=MOVED)
    assert dict(back.filter(app_label="marketplaces").values_list("model", "id")) == ids
    assert not back.filter(app_label="kaspi").exists()


def test_open_alerts_link_to_the_kaspi_admin_pages_after_the_move(old_apps: Any) -> None:
    store, _, _ = _old_rows(old_apps)
    Alert = old_apps.get_model("alerts", "Alert")
    common = {"merchant_id": store.merchant_id, "condition": "kaspi_relogin", "title": "t"}
    kaspi = Alert.objects.create(**common, subject="a", link=f"/admin/marketplaces/kaspistore/{store.pk}/change/")
    emag = Alert.objects.create(**common, subject="b", link="/admin/marketplaces_emag/emagaccount/7/change/")

    _migrate(latest_nodes())

    links = dict(Alert.objects.values_list("pk", "link"))
    assert links == {kaspi.pk: f"/admin/kaspi/kaspistore/{store.pk}/change/", emag.pk: emag.link}
    assert reverse("admin:kaspi_kaspistore_change", args=[store.pk]) == links[kaspi.pk]
