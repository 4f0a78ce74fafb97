"""Tenancy (User, Merchant, Membership) and the shared SyncRun record (SPEC PLAT-4, PLAT-7)."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils import timezone
from knox.models import AbstractAuthToken


class User(AbstractUser):  # type: ignore[django-manager-missing]  # knox's swapped-out model names auth_token_set too
    """Custom from the first migration so that later changes need no table swap."""

    class Meta:
        db_table = "core_user"


class Merchant(models.Model):
    """The tenant: every owner-facing object belongs to exactly one merchant."""

    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=80, unique=True)
    is_active = models.BooleanField(default=True)
    time_zone = models.CharField(max_length=64, default="Europe/Moscow")
    created_at = models.DateTimeField(auto_now_add=True)
    members = models.ManyToManyField(
        settings.AUTH_USER_MODEL, through="Membership", related_name="merchants", blank=True
    )

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    class Role(models.TextChoices):
        OWNER = "owner", "Owner"
        MANAGER = "manager", "Manager"
        VIEWER = "viewer", "Viewer"

    WRITE_ROLES = (Role.OWNER, Role.MANAGER)

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    merchant = models.ForeignKey(Merchant, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.OWNER)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "merchant"], name="uniq_membership")]

    def __str__(self) -> str:
        return f"{self.user} @ {self.merchant} ({self.role})"


class SyncRun(models.Model):
    """One run of one sync of any app, with live progress ("X of Y")."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        # A transient error stopped it; a retry (its message is queued) resumes it from the checkpoint.
        RETRYING = "retrying", "Retrying"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    merchant = models.ForeignKey(Merchant, on_delete=models.CASCADE, related_name="sync_runs")
    kind = models.CharField(max_length=64, help_text="e.g. vending.transactions, poster.ingredients")
    mode = models.CharField(max_length=32, blank=True, default="")
    account_ref = models.CharField(max_length=64, blank=True, default="", help_text="id of the synced account")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    items_done = models.PositiveIntegerField(default=0)
    items_total = models.PositiveIntegerField(null=True, blank=True)
    counters = models.JSONField(default=dict, blank=True)
    params = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True, default="")
    # The lease (core.steps): who may execute the run now and until when. A step message carries a
    # ticket that the previous step wrote here; an execution replaces it with its own token and keeps
    # ``lease_until`` in the future by a heartbeat. Compared with the database's clock only.
    lease_token = models.CharField(max_length=64, blank=True, default="")
    lease_until = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0, help_text="transient failures retried so far")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["merchant", "kind", "-created_at"])]

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
    id = models.BigAutoField(primary_key=True)
    digest = models.CharField(max_length=128, unique=True)
    client = models.CharField(max_length=64, default="default")

    class Meta:
        db_table = "core_api_token"
        constraints = [models.UniqueConstraint(fields=["user", "client"], name="api_token_one_per_client")]

    def __str__(self) -> str:
        return f"{self.user} / {self.client}"
