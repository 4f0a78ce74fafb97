"""Fernet encryption of secrets at rest with key rotation (SPEC PLAT-5)."""

from __future__ import annotations

from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings


class SecretStr(str):
    """A decrypted secret: usable as a string, masked in repr() so it never lands in a traceback."""

    def __repr__(self) -> str:
        return "'********'" if self else "''"


@lru_cache(maxsize=8)
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    if not keys:
        raise ValueError("FIELD_ENCRYPTION_KEYS is empty")
    return MultiFernet([Fernet(k.encode() if isinstance(k, str) else k) for k in keys])


def fernet() -> MultiFernet:
    # Read at call time so key rotation (and override_settings in tests) takes effect at once.
    return _fernet(tuple(k.strip() for k in settings.FIELD_ENCRYPTION_KEYS if k.strip()))


def encrypt(value: str) -> str:
    return fernet().encrypt(value.encode()).decode()


def decrypt(token: str) -> SecretStr:
    try:
        return SecretStr(fernet().decrypt(token.encode()).decode())
    except InvalidToken as exc:
        raise ValueError("cannot decrypt a secret with any key in FIELD_ENCRYPTION_KEYS") from exc


def rotate(token: str) -> str:
    """Re-encrypt with the first key; a token already under it stays decryptable."""
    return fernet().rotate(token.encode()).decode()


def mask(value: str | None) -> str:
    if not value:
        return ""
    return "••••" + value[-2:] if len(value) > 6 else "••••"
