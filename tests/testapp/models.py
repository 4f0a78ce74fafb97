from __future__ import annotations

from django.db import models

from core.fields import EncryptedTextField
from core.models import Merchant


class SecretHolder(models.Model):
    merchant = models.ForeignKey(Merchant, on_delete=models.CASCADE, null=True, blank=True)
    name = models.CharField(max_length=50)
    secret = EncryptedTextField()

    def __str__(self) -> str:
        return self.name
