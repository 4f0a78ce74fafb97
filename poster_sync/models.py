"""Poster POS accounts, the synced catalogue, sync status and webhook log (SPEC POS-1 … POS-4).

Poster sends every value as a string; entities keep typed columns cast from them plus the raw item
as received. Rows are keyed by (account, Poster id) and never deleted: an object Poster removed
(a ``removed`` webhook, ``delete = "1"``, or absent from a full list) gets ``removed_at``.
"""

from __future__ import annotations

from django.core.validators import RegexValidator, URLValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from core.fields import EncryptedTextField
from core.inbox import InboxMessage, InboxStatus
from core.models import IntegrationAccount, Merchant

# Poster account names are sub-domains ({account}.joinposter.com): nothing else may reach a URL.
account_name_validator = RegexValidator(r"^[a-z0-9][a-z0-9-]{0,62}$", _("A Poster account name: a-z, 0-9 and '-'."))


class PosterAccount(IntegrationAccount):
    class Source(models.TextChoices):
        OAUTH = "oauth", _("OAuth (application)")
        PERSONAL = "personal", _("Personal integration token")

    merchant = models.ForeignKey(
        Merchant, on_delete=models.CASCADE, related_name="poster_accounts", verbose_name=_("merchant")
    )
    account = models.CharField(
        max_length=63,
        unique=True,
        validators=[account_name_validator],
        help_text=_("Poster account name, as in https://<account>.joinposter.com"),
        verbose_name=_("account"),
    )
    account_number = models.CharField(max_length=32, blank=True, default="", verbose_name=_("account number"))
    access_token = EncryptedTextField(
        help_text=_("Poster access token (OAuth or a pasted personal-integration token)."),
        verbose_name=_("access token"),
    )
    source = models.CharField(max_length=16, choices=Source.choices, default=Source.PERSONAL, verbose_name=_("source"))
    api_url = models.CharField(
        max_length=200,
        blank=True,
        default="",
        validators=[URLValidator(schemes=["http", "https"])],
        help_text=_("Empty: POSTER_ACCOUNT_API_URL for this account (https://<account>.joinposter.com/api)."),
        verbose_name=_("API URL"),
    )
    needs_reconnect = models.BooleanField(
        default=False,
        help_text=_("Poster refused the token: the owner must connect the account again."),
        verbose_name=_("needs reconnecting"),
    )
    connected_at = models.DateTimeField(null=True, blank=True, verbose_name=_("connected at"))

    class Meta:
        ordering = ["merchant_id", "account"]
        verbose_name = _("Poster account")
        verbose_name_plural = _("Poster accounts")

    def __str__(self) -> str:
        return self.account


class Entity(models.TextChoices):
    SUPPLIERS = "suppliers", _("Suppliers")
    INGREDIENTS = "ingredients", _("Ingredients")
    STORAGES = "storages", _("Storages")
    CATEGORIES = "categories", _("Categories")
    INGREDIENT_CATEGORIES = "ingredient_categories", _("Ingredient categories")


class PosterObject(models.Model):
    account = models.ForeignKey(PosterAccount, on_delete=models.CASCADE, related_name="+", verbose_name=_("account"))
    poster_id = models.BigIntegerField(verbose_name=_("Poster ID"))
    name = models.CharField(max_length=300, blank=True, default="", verbose_name=_("name"))
    raw = models.JSONField(
        default=dict, help_text=_("the item as Poster sent it (all values strings)"), verbose_name=_("raw")
    )
    removed_at = models.DateTimeField(
        null=True,
        blank=True,
        db_index=True,
        help_text=_("set when Poster removed the object (soft delete)"),
        verbose_name=_("removed at"),
    )
    synced_at = models.DateTimeField(auto_now=True, verbose_name=_("synced at"))

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
    phone = models.CharField(max_length=100, blank=True, default="", verbose_name=_("phone"))
    address = models.CharField(max_length=500, blank=True, default="", verbose_name=_("address"))
    comment = models.TextField(blank=True, default="", verbose_name=_("comment"))
    tin = models.CharField(max_length=64, blank=True, default="", verbose_name=_("TIN"))

    class Meta(PosterObject.Meta):
        constraints = _unique("supplier")
        verbose_name = _("supplier")
        verbose_name_plural = _("suppliers")


class Storage(PosterObject):
    address = models.CharField(max_length=500, blank=True, default="", verbose_name=_("address"))

    class Meta(PosterObject.Meta):
        constraints = _unique("storage")
        verbose_name = _("storage")
        verbose_name_plural = _("storages")


class IngredientCategory(PosterObject):
    class Meta(PosterObject.Meta):
        constraints = _unique("ingredient_category")
        verbose_name = _("ingredient category")
        verbose_name_plural = _("ingredient categories")


class Category(PosterObject):
    """A menu category; one with a parent is a section of it."""

    parent_poster_id = models.BigIntegerField(null=True, blank=True, verbose_name=_("parent Poster ID"))
    hidden = models.BooleanField(default=False, verbose_name=_("hidden"))
    level = models.IntegerField(null=True, blank=True, verbose_name=_("level"))
    sort_order = models.IntegerField(null=True, blank=True, verbose_name=_("sort order"))

    class Meta(PosterObject.Meta):
        constraints = _unique("category")
        verbose_name = _("category")
        verbose_name_plural = _("categories")


class Ingredient(PosterObject):
    category_poster_id = models.BigIntegerField(null=True, blank=True, verbose_name=_("category Poster ID"))
    unit = models.CharField(max_length=32, blank=True, default="", verbose_name=_("unit"))
    left = models.DecimalField(
        max_digits=20,
        decimal_places=4,
        null=True,
        blank=True,
        help_text=_("ingredient_left: stock left"),
        verbose_name=_("left"),
    )
    ingredient_type = models.IntegerField(
        null=True, blank=True, help_text=_("ingredients_type"), verbose_name=_("ingredient type")
    )
    hidden = models.BooleanField(default=False, verbose_name=_("hidden"))

    class Meta(PosterObject.Meta):
        constraints = _unique("ingredient")
        verbose_name = _("ingredient")
        verbose_name_plural = _("ingredients")


class SyncStatus(models.Model):
    """Per (account, entity): when it was last synced, last succeeded, how often, the last error."""

    account = models.ForeignKey(
        PosterAccount, on_delete=models.CASCADE, related_name="sync_statuses", verbose_name=_("account")
    )
    entity = models.CharField(max_length=32, choices=Entity.choices, verbose_name=_("entity"))
    last_sync_at = models.DateTimeField(null=True, blank=True, verbose_name=_("last sync at"))
    last_success_at = models.DateTimeField(null=True, blank=True, verbose_name=_("last success at"))
    sync_count = models.PositiveIntegerField(default=0, verbose_name=_("sync count"))
    items_count = models.PositiveIntegerField(
        default=0, help_text=_("objects received by the last successful sync"), verbose_name=_("items count")
    )
    last_error = models.TextField(blank=True, default="", verbose_name=_("last error"))
    consecutive_failures = models.PositiveIntegerField(default=0, verbose_name=_("consecutive failures"))
    alerted_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text=_("staff e-mailed about the current failure streak"),
        verbose_name=_("alerted at"),
    )

    class Meta:
        ordering = ["account_id", "entity"]
        constraints = [models.UniqueConstraint(fields=["account", "entity"], name="uniq_poster_sync_status")]
        verbose_name = _("sync status")
        verbose_name_plural = _("sync statuses")

    def __str__(self) -> str:
        return f"{self.account_id} {self.entity}"


# Poster's deliveries are an inbox (core.inbox): one status vocabulary and transition table for every inbox.
WebhookStatus = InboxStatus


class WebhookLog(InboxMessage):
    """Every delivery to /webhooks/poster/. Authentic ones carry a unique ``delivery_key`` (the
    account and Poster's ``verify``, which covers every field and the time), so a redelivery hits
    the constraint and is processed once; forged ones are kept with ``signature_valid=False``."""

    account = models.ForeignKey(
        PosterAccount,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="webhook_logs",
        verbose_name=_("account"),
    )
    account_name = models.CharField(max_length=100, blank=True, default="", verbose_name=_("account name"))
    object = models.CharField(max_length=64, blank=True, default="", verbose_name=_("object"))
    object_id = models.CharField(max_length=64, blank=True, default="", verbose_name=_("object ID"))
    action = models.CharField(max_length=32, blank=True, default="", verbose_name=_("action"))
    signature_valid = models.BooleanField(default=False, verbose_name=_("signature valid"))
    delivery_key = models.CharField(max_length=128, null=True, blank=True, unique=True, verbose_name=_("delivery key"))
    remote_addr = models.GenericIPAddressField(null=True, blank=True, verbose_name=_("remote addr"))

    class Meta:
        ordering = ["-received_at", "-id"]
        indexes = [models.Index(fields=["status", "received_at"], name="poster_webhook_status_idx")]
        verbose_name = _("webhook log entry")
        verbose_name_plural = _("webhook log")

    def __str__(self) -> str:
        return f"{self.account_name} {self.object} {self.object_id} {self.action}"
