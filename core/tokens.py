"""Owner API tokens (SPEC PLAT-4, PLAT-8), on django-rest-knox: hashed at rest, expiring
(``API_TOKEN_TTL_HOURS``), several per user — one per client name, a new login of the same client
replacing its old token — listed and revoked by their owner, all revoked when the password changes.
"""

from __future__ import annotations

import logging
from typing import Any

from django.db import transaction
from django.db.models import Q, QuerySet
from django.db.models.signals import pre_save
from django.utils import timezone
from knox.settings import knox_settings

from .models import ApiToken, User

log = logging.getLogger("core.tokens")


class TokenLimitReached(Exception):
    """The user already has ``API_TOKEN_LIMIT_PER_USER`` live tokens."""


def api_tokens_live(*, user: User) -> QuerySet[ApiToken]:
    now = timezone.now()
    return ApiToken.objects.filter(user=user).filter(Q(expiry__isnull=True) | Q(expiry__gt=now)).order_by("-created")


@transaction.atomic
def api_token_create(*, user: User, client: str = "default") -> tuple[ApiToken, str]:
    """A new token for ``client`` (the previous one of that client is revoked); the secret is returned once."""
    User.objects.select_for_update().filter(pk=user.pk).first()  # one login of a user at a time
    ApiToken.objects.filter(user=user, client=client).delete()
    ApiToken.objects.filter(user=user, expiry__lte=timezone.now()).delete()
    limit = knox_settings.TOKEN_LIMIT_PER_USER
    if limit is not None and ApiToken.objects.filter(user=user).count() >= limit:
        raise TokenLimitReached(f"at most {limit} tokens per user; revoke one first")
    instance, secret = ApiToken.objects.create(user=user, expiry=knox_settings.TOKEN_TTL, client=client)
    return instance, secret


def api_token_revoke(*, user: User, token_id: int) -> bool:
    deleted, _ = ApiToken.objects.filter(user=user, pk=token_id).delete()
    return bool(deleted)


def api_tokens_revoke_all(*, user: User) -> int:
    deleted, _ = ApiToken.objects.filter(user=user).delete()
    return deleted


def _password_changed(sender: type[User], instance: User, update_fields: Any = None, **kwargs: Any) -> None:
    # A signal, not a service, on purpose: Django's own edges change passwords (the admin's password
    # form, `manage.py changepassword`, the password reset views) without calling our code.
    if instance.pk is None or (update_fields is not None and "password" not in update_fields):
        return
    stored = User.objects.filter(pk=instance.pk).values_list("password", flat=True).first()
    if stored is not None and stored != instance.password:
        revoked = api_tokens_revoke_all(user=instance)
        log.info("password of user %s changed: %d API tokens revoked", instance.pk, revoked)


def connect_signals() -> None:
    pre_save.connect(_password_changed, sender=User, dispatch_uid="core.tokens.password_changed")
