from __future__ import annotations

import logging

import pytest
from cryptography.fernet import Fernet
from django.db import connection
from django.test import override_settings

from core import crypto
from core.crypto import SecretStr
from core.services import encrypted_values_rotate
from tests.testapp.models import SecretHolder


def test_round_trip_and_mask_in_repr() -> None:
    token = crypto.encrypt("shop-secret-123")
    assert "shop-secret-123" not in token
    value = crypto.decrypt(token)
    assert value == "shop-secret-123"
    assert isinstance(value, SecretStr)
    assert "shop-secret" not in repr(value)
    assert "shop-secret" not in repr({"password": value})


def test_undecryptable_value_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="FIELD_ENCRYPTION_KEYS"):
        crypto.decrypt(Fernet(Fernet.generate_key()).encrypt(b"x").decode())


@pytest.mark.django_db
def test_field_stores_ciphertext_and_never_plaintext(caplog: pytest.LogCaptureFixture) -> None:
    model = SecretHolder
    caplog.set_level(logging.DEBUG)
    obj = model.objects.create(name="a", secret="vendista-password-42")
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT secret FROM {model._meta.db_table} WHERE id = %s", [obj.pk])
        (stored,) = cursor.fetchone()
    assert stored and "vendista-password-42" not in stored
    loaded = model.objects.get(pk=obj.pk)
    assert loaded.secret == "vendista-password-42"
    assert "vendista-password-42" not in repr(loaded.secret)
    assert "vendista-password-42" not in caplog.text


@pytest.mark.django_db
def test_rotation_to_a_new_key(settings: object) -> None:
    model = SecretHolder
    old_key = settings.FIELD_ENCRYPTION_KEYS[0]  # type: ignore[attr-defined]
    obj = model.objects.create(name="b", secret="poster-token")
    new_key = Fernet.generate_key().decode()
    # New key first (encrypts), old key still accepted: existing rows keep decrypting.
    with override_settings(FIELD_ENCRYPTION_KEYS=[new_key, old_key]):
        assert model.objects.get(pk=obj.pk).secret == "poster-token"
        assert encrypted_values_rotate() >= 1
    # After rotation the old key can be dropped.
    with override_settings(FIELD_ENCRYPTION_KEYS=[new_key]):
        assert model.objects.get(pk=obj.pk).secret == "poster-token"
    with override_settings(FIELD_ENCRYPTION_KEYS=[old_key]), pytest.raises(ValueError):
        model.objects.get(pk=obj.pk)
