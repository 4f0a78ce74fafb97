from __future__ import annotations

import pytest

from core.admin_forms import SecretsKeptForm
from tests.testapp.models import SecretHolder

pytestmark = pytest.mark.django_db


class HolderForm(SecretsKeptForm):
    class Meta:
        model = SecretHolder
        fields = ["name", "secret"]


def test_secret_is_never_rendered_and_blank_keeps_it() -> None:
    holder = SecretHolder.objects.create(name="a", secret="stored-secret-value")
    form = HolderForm(instance=holder)
    assert "stored-secret-value" not in form.as_p()
    edit = HolderForm({"name": "b", "secret": ""}, instance=holder)
    assert edit.is_valid(), edit.errors
    edit.save()
    holder.refresh_from_db()
    assert (holder.name, holder.secret) == ("b", "stored-secret-value")


def test_retyped_secret_replaces_the_stored_one() -> None:
    holder = SecretHolder.objects.create(name="a", secret="old")
    form = HolderForm({"name": "a", "secret": "new"}, instance=holder)
    assert form.is_valid()
    form.save()
    holder.refresh_from_db()
    assert holder.secret == "new"
