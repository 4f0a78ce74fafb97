"""The admin kit (issue 22): one read-only base, one "run a service per selected row, report" loop."""

from __future__ import annotations

import pytest
from django.contrib import admin, messages
from django.contrib.messages import get_messages
from django.contrib.messages.storage.cookie import CookieStorage
from django.test import Client, RequestFactory
from django.urls import reverse

from core.admin_actions import admin_run_each
from core.models import Merchant, SyncRun
from tests.factories import MerchantFactory, UserFactory


def admin_request(rf: RequestFactory) -> object:
    request = rf.post("/admin/")
    request._messages = CookieStorage(request)  # type: ignore[attr-defined]
    return request


def test_every_row_runs_failures_are_named_and_the_report_counts_them(rf: RequestFactory) -> None:
    request = admin_request(rf)
    ran: list[int] = []

    def service(row: int) -> str | None:
        if row == 2:
            raise ValueError("refused by the provider")
        ran.append(row)
        return "with a note" if row == 3 else None

    result = admin_run_each(
        admin.ModelAdmin(Merchant, admin.site), request, [1, 2, 3, 4], service,  # type: ignore[arg-type]
        done="%(count)d done.", errors=(ValueError,), name=lambda row: f"row {row}",
    )  # fmt: skip
    assert result == (3, 1) and ran == [1, 3, 4]
    assert [(m.level, str(m)) for m in get_messages(request)] == [  # type: ignore[arg-type]
        (messages.ERROR, "row 2: refused by the provider"),
        (messages.INFO, "row 3: with a note"),
        (messages.WARNING, "3 done. 1 failed."),
    ]


def test_an_error_the_action_did_not_name_is_a_bug_and_propagates(rf: RequestFactory) -> None:
    def service(row: int) -> None:
        raise KeyError(row)

    with pytest.raises(KeyError):
        admin_run_each(
            admin.ModelAdmin(Merchant, admin.site), admin_request(rf), [1], service,  # type: ignore[arg-type]
            done="%(count)d done.", errors=(ValueError,),
        )  # fmt: skip


@pytest.mark.django_db
def test_a_read_only_admin_shows_a_row_but_refuses_adding_and_editing_it(client: Client) -> None:
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    run = SyncRun.objects.create(merchant=MerchantFactory(), kind="test.kind")
    change = reverse("admin:core_syncrun_change", args=[run.pk])
    page = client.get(change)
    assert page.status_code == 200 and "test.kind" in page.content.decode()
    assert 'name="_save"' not in page.content.decode()
    assert client.post(change, {"kind": "edited"}).status_code == 403
    assert client.get(reverse("admin:core_syncrun_add")).status_code == 403
    SyncRun.objects.get(pk=run.pk, kind="test.kind")
    assert client.post(reverse("admin:core_syncrun_delete", args=[run.pk]), {"post": "yes"}).status_code == 302
    assert not SyncRun.objects.filter(pk=run.pk).exists()  # ``deletable``: a run may be dropped, as before
