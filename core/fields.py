"""Model field that keeps a secret encrypted in the database (SPEC PLAT-5)."""

from __future__ import annotations

from typing import Any

from django.db import models

from . import crypto


class EncryptedTextField(models.TextField):
    """Stores Fernet ciphertext; Python code sees the plaintext as a masked-repr ``SecretStr``.

    Not searchable or orderable by value (ciphertext differs on every write, by design).
    """

    description = "Encrypted text"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("blank", True)
        kwargs.setdefault("default", "")
        super().__init__(*args, **kwargs)

    def from_db_value(self, value: str | None, expression: Any, connection: Any) -> str | None:
        if value is None or value == "":
            return value
        return crypto.decrypt(value)

    def to_python(self, value: Any) -> Any:
        return value

    def get_prep_value(self, value: Any) -> Any:
        value = super().get_prep_value(value)
        if value is None or value == "":
            return value
        return crypto.encrypt(str(value))

    def value_to_string(self, obj: models.Model) -> str:
        # dumpdata/serialisation never writes the plaintext.
        return ""


def encrypted_fields() -> list[tuple[type[models.Model], str]]:
    from django.apps import apps

    found = []
    for model in apps.get_models():
        for field in model._meta.concrete_fields:
            if isinstance(field, EncryptedTextField):
                found.append((model, field.attname))
    return found
