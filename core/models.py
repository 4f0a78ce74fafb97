"""Tenancy (User, Merchant, Membership) and the shared SyncRun record (SPEC PLAT-4, PLAT-7)."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from knox.models import AbstractAuthToken


class User(AbstractUser):  # type: ignore[django-manager-missing]  # knox's swapped-out model names auth_token_set too
    """Custom from the first migration so that later changes need no table swap."""

    class Meta:
        db_table = "core_user"
        verbose_name = _("user")
        verbose_name_plural = _("users")


class Merchant(models.Model):
    """The tenant: every owner-facing object belongs to exactly one merchant."""

    name = models.CharField(max_length=200, verbose_name=_("name"))
    slug = models.SlugField(max_length=80, unique=True, verbose_name=_("slug"))
    is_active = models.BooleanField(default=True, verbose_name=_("is active"))
    time_zone = models.CharField(max_length=64, default="Europe/Moscow", verbose_name=_("time zone"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))
    members = models.ManyToManyField(
        settings.AUTH_USER_MODEL, through="Membership", related_name="merchants", blank=True, verbose_name=_("members")
    )

    class Meta:
        ordering = ["name"]
        verbose_name = _("merchant")
        verbose_name_plural = _("merchants")

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    class Role(models.TextChoices):
        OWNER = "owner", _("Owner")
        MANAGER = "manager", _("Manager")
        VIEWER = "viewer", _("Viewer")

    WRITE_ROLES = (Role.OWNER, Role.MANAGER)

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships", verbose_name=_("user")
    )
    merchant = models.ForeignKey(
        Merchant, on_delete=models.CASCADE, related_name="memberships", verbose_name=_("merchant")
    )
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.OWNER, verbose_name=_("role"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "merchant"], name="uniq_membership")]
        verbose_name = _("membership")
        verbose_name_plural = _("memberships")

    def __str__(self) -> str:
        return f"{self.user} @ {self.merchant} ({self.role})"


class IntegrationAccount(models.Model):
    """What every provider account of a merchant has (issue 22): its merchant, whether it syncs
    (``is_active``; owners deactivate, never delete), the last failure in words ("" once it works),
    when it was added. Secrets are ``core.fields.EncryptedTextField``s on the account itself.

    An account whose reverse name from ``Merchant`` is older than this base declares its own
    ``merchant`` with that ``related_name``; a new provider keeps the default."""

    merchant = models.ForeignKey(
        Merchant, on_delete=models.CASCADE, related_name="%(app_label)s_%(class)ss", verbose_name=_("merchant")
    )
    is_active = models.BooleanField(default=True, verbose_name=_("is active"))
    last_error = models.TextField(blank=True, default="", verbose_name=_("last error"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))

    class Meta:
        abstract = True


class SyncedAccount(IntegrationAccount):
    """An account synced as a whole, so one time says when it last synced (Kaspi keeps one per kind,
    Poster one per entity)."""

    last_sync_at = models.DateTimeField(null=True, blank=True, verbose_name=_("last sync at"))

    class Meta:
        abstract = True


class SyncRun(models.Model):
    """One run of one sync of any app, with live progress ("X of Y")."""

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Running")
        # A transient error stopped it; a retry (its message is queued) resumes it from the checkpoint.
        RETRYING = "retrying", _("Retrying")
        SUCCEEDED = "succeeded", _("Succeeded")
        FAILED = "failed", _("Failed")

    merchant = models.ForeignKey(
        Merchant, on_delete=models.CASCADE, related_name="sync_runs", verbose_name=_("merchant")
    )
    kind = models.CharField(
        max_length=64, help_text=_("e.g. vending.transactions, poster.ingredients"), verbose_name=_("kind")
    )
    mode = models.CharField(max_length=32, blank=True, default="", verbose_name=_("mode"))
    # The synced account (a Vendista account, a Kaspi store, ...): core cannot point a foreign key at
    # the apps' models (they depend on core), so the run names it by type and id; a check keeps the
    # pair whole and the type is a real foreign key. ``None`` for a run of no account.
    account_type = models.ForeignKey(
        ContentType,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("account type"),
    )
    account_id = models.PositiveBigIntegerField(null=True, blank=True, verbose_name=_("account id"))
    account = GenericForeignKey("account_type", "account_id")
    status = models.CharField(
        max_length=16, choices=Status.choices, default=Status.QUEUED, db_index=True, verbose_name=_("status")
    )
    started_at = models.DateTimeField(null=True, blank=True, verbose_name=_("started at"))
    finished_at = models.DateTimeField(null=True, blank=True, verbose_name=_("finished at"))
    items_done = models.PositiveIntegerField(default=0, verbose_name=_("items done"))
    items_total = models.PositiveIntegerField(null=True, blank=True, verbose_name=_("items total"))
    counters = models.JSONField(default=dict, blank=True, verbose_name=_("counters"))
    params = models.JSONField(default=dict, blank=True, verbose_name=_("params"))
    error = models.TextField(blank=True, default="", verbose_name=_("error"))
    # The lease (core.steps): who may execute the run now and until when. A step message carries a
    # ticket that the previous step wrote here; an execution replaces it with its own token and keeps
    # ``lease_until`` in the future by a heartbeat. Compared with the database's clock only.
    lease_token = models.CharField(max_length=64, blank=True, default="", verbose_name=_("lease token"))
    lease_until = models.DateTimeField(null=True, blank=True, verbose_name=_("lease until"))
    attempts = models.PositiveIntegerField(
        default=0, help_text=_("transient failures retried so far"), verbose_name=_("attempts")
    )
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["merchant", "kind", "-created_at"]),
            models.Index(fields=["account_type", "account_id", "-created_at"], name="core_syncrun_account_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(account_type__isnull=True, account_id__isnull=True)
                | models.Q(account_type__isnull=False, account_id__isnull=False),
                name="core_syncrun_account_whole",
            )
        ]
        verbose_name = _("sync run")
        verbose_name_plural = _("sync runs")

    def __str__(self) -> str:
        return f"{self.kind} #{self.pk} {self.status}"

    @property
    def progress_percent(self) -> float | None:
        if not self.items_total:
            return None
        return round(100.0 * min(self.items_done, self.items_total) / self.items_total, 1)

    @property
    def duration_seconds(self) -> float | None:
        if not self.started_at:
            return None
        end = self.finished_at or timezone.now()
        return (end - self.started_at).total_seconds()


class ApiToken(AbstractAuthToken):
    """An owner's API token (django-rest-knox; SPEC PLAT-4, PLAT-8): stored as a hash, expires, one per
    client name per user. ``id`` names it for listing and revoking; the secret itself is shown once."""

    # knox keys its table by the digest; an ordinary id is what an owner sees and revokes.
    id = models.BigAutoField(primary_key=True, verbose_name=_("ID"))
    digest = models.CharField(max_length=128, unique=True, verbose_name=_("digest"))
    client = models.CharField(max_length=64, default="default", verbose_name=_("client"))

    class Meta:
        db_table = "core_api_token"
        constraints = [models.UniqueConstraint(fields=["user", "client"], name="api_token_one_per_client")]
        verbose_name = _("API token")
        verbose_name_plural = _("API tokens")

    def __str__(self) -> str:
        return f"{self.user} / {self.client}"
