"""Poster POS accounts, the synced catalogue, sync status and webhook log (SPEC POS-1 … POS-4).

Poster sends every value as a string; entities keep typed columns cast from them plus the raw item
as received. Rows are keyed by (account, Poster id) and never deleted: an object Poster removed
(a ``removed`` webhook, ``delete = "1"``, or absent from a full list) gets ``removed_at``.
"""

from __future__ import annotations

from django.core.validators import RegexValidator, URLValidator
from django.db import models

from core.fields import EncryptedTextField
from core.models import Merchant

# Poster account names are sub-domains ({account}.joinposter.com): nothing else may reach a URL.
account_name_validator = RegexValidator(r"^[a-z0-9][a-z0-9-]{0,62}$", "A Poster account name: a-z, 0-9 and '-'.")


class PosterAccount(models.Model):
    class Source(models.TextChoices):
        OAUTH = "oauth", "OAuth (application)"
        PERSONAL = "personal", "Personal integration token"

    merchant = models.ForeignKey(Merchant, on_delete=models.CASCADE, related_name="poster_accounts")
    account = models.CharField(
        max_length=63,
        unique=True,
        validators=[account_name_validator],
        help_text="Poster account name, as in https://<account>.joinposter.com",
    )
    account_number = models.CharField(max_length=32, blank=True, default="")
    access_token = EncryptedTextField(help_text="Poster access token (OAuth or a pasted personal-integration token).")
    source = models.CharField(max_length=16, choices=Source.choices, default=Source.PERSONAL)
    api_url = models.CharField(
        max_length=200,
        blank=True,
        default="",
        validators=[URLValidator(schemes=["http", "https"])],
        help_text="Empty: POSTER_ACCOUNT_API_URL for this account (https://<account>.joinposter.com/api).",
    )
    is_active = models.BooleanField(default=True)
    last_error = models.TextField(blank=True, default="")
    needs_reconnect = models.BooleanField(
        default=False, help_text="Poster refused the token: the owner must connect the account again."
    )
    connected_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["merchant_id", "account"]

    def __str__(self) -> str:
        return self.account


class Entity(models.TextChoices):
    SUPPLIERS = "suppliers", "Suppliers"
    INGREDIENTS = "ingredients", "Ingredients"
    STORAGES = "storages", "Storages"
    CATEGORIES = "categories", "Categories"
    INGREDIENT_CATEGORIES = "ingredient_categories", "Ingredient categories"


class PosterObject(models.Model):
    account = models.ForeignKey(PosterAccount, on_delete=models.CASCADE, related_name="+")
    poster_id = models.BigIntegerField()
    name = models.CharField(max_length=300, blank=True, default="")
    raw = models.JSONField(default=dict, help_text="the item as Poster sent it (all values strings)")
    removed_at = models.DateTimeField(
        null=True, blank=True, db_index=True, help_text="set when Poster removed the object (soft delete)"
    )
    synced_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True
        ordering = ["account_id", "poster_id"]

    def __str__(self) -> str:
        return self.name or f"#{self.poster_id}"

    @property
    def is_removed(self) -> bool:
        return self.removed_at is not None


def _unique(name: str) -> list[models.BaseConstraint]:
    return [models.UniqueConstraint(fields=["account", "poster_id"], name=f"uniq_poster_{name}")]


class Supplier(PosterObject):
    phone = models.CharField(max_length=100, blank=True, default="")
    address = models.CharField(max_length=500, blank=True, default="")
    comment = models.TextField(blank=True, default="")
    tin = models.CharField(max_length=64, blank=True, default="")

    class Meta(PosterObject.Meta):
        constraints = _unique("supplier")


class Storage(PosterObject):
    address = models.CharField(max_length=500, blank=True, default="")

    class Meta(PosterObject.Meta):
        constraints = _unique("storage")


class IngredientCategory(PosterObject):
    class Meta(PosterObject.Meta):
        constraints = _unique("ingredient_category")
        verbose_name_plural = "ingredient categories"


class Category(PosterObject):
    """A menu category; one with a parent is a section of it."""

    parent_poster_id = models.BigIntegerField(null=True, blank=True)
    hidden = models.BooleanField(default=False)
    level = models.IntegerField(null=True, blank=True)
    sort_order = models.IntegerField(null=True, blank=True)

    class Meta(PosterObject.Meta):
        constraints = _unique("category")
        verbose_name_plural = "categories"


class Ingredient(PosterObject):
    category_poster_id = models.BigIntegerField(null=True, blank=True)
    unit = models.CharField(max_length=32, blank=True, default="")
    left = models.DecimalField(
        max_digits=20, decimal_places=4, null=True, blank=True, help_text="ingredient_left: stock left"
    )
    ingredient_type = models.IntegerField(null=True, blank=True, help_text="ingredients_type")
    hidden = models.BooleanField(default=False)

    class Meta(PosterObject.Meta):
        constraints = _unique("ingredient")


class SyncStatus(models.Model):
    """Per (account, entity): when it was last synced, last succeeded, how often, the last error."""

    account = models.ForeignKey(PosterAccount, on_delete=models.CASCADE, related_name="sync_statuses")
    entity = models.CharField(max_length=32, choices=Entity.choices)
    last_sync_at = models.DateTimeField(null=True, blank=True)
    last_success_at = models.DateTimeField(null=True, blank=True)
    sync_count = models.PositiveIntegerField(default=0)
    items_count = models.PositiveIntegerField(default=0, help_text="objects received by the last successful sync")
    last_error = models.TextField(blank=True, default="")
    consecutive_failures = models.PositiveIntegerField(default=0)
    alerted_at = models.DateTimeField(
        null=True, blank=True, help_text="staff e-mailed about the current failure streak"
    )

    class Meta:
        ordering = ["account_id", "entity"]
        constraints = [models.UniqueConstraint(fields=["account", "entity"], name="uniq_poster_sync_status")]
        verbose_name_plural = "sync statuses"

    def __str__(self) -> str:
        return f"{self.account_id} {self.entity}"


class WebhookStatus(models.TextChoices):
    RECEIVED = "received", "Received"
    PROCESSING = "processing", "Processing"
    PROCESSED = "processed", "Processed"
    IGNORED = "ignored", "Ignored (authentic, nothing to sync)"
    FAILED = "failed", "Failed"
    REJECTED = "rejected", "Rejected (bad signature)"


class WebhookLog(models.Model):
    """Every delivery to /webhooks/poster/. Authentic ones carry a unique ``delivery_key`` (the
    account and Poster's ``verify``, which covers every field and the time), so a redelivery hits
    the constraint and is processed once; forged ones are kept with ``signature_valid=False``."""

    account = models.ForeignKey(
        PosterAccount, on_delete=models.SET_NULL, null=True, blank=True, related_name="webhook_logs"
    )
    account_name = models.CharField(max_length=100, blank=True, default="")
    object = models.CharField(max_length=64, blank=True, default="")
    object_id = models.CharField(max_length=64, blank=True, default="")
    action = models.CharField(max_length=32, blank=True, default="")
    payload = models.JSONField(default=dict)
    signature_valid = models.BooleanField(default=False)
    delivery_key = models.CharField(max_length=128, null=True, blank=True, unique=True)
    status = models.CharField(max_length=16, choices=WebhookStatus.choices, default=WebhookStatus.RECEIVED)
    attempts = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True, default="")
    remote_addr = models.GenericIPAddressField(null=True, blank=True)
    received_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-received_at", "-id"]
        indexes = [models.Index(fields=["status", "received_at"], name="poster_webhook_status_idx")]

    def __str__(self) -> str:
        return f"{self.account_name} {self.object} {self.object_id} {self.action}"
