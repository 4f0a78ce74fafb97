"""Admin: the token is write-only, "sync now" queues runs and is rate-limited, the webhook log browser (PLAT-11)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from core.models import SyncRun
from poster_sync.models import PosterAccount, WebhookLog, WebhookStatus
from tests.factories import MerchantFactory

pytestmark = pytest.mark.django_db


def test_pasted_personal_token_is_stored_encrypted_and_never_shown(staff_client, poster) -> None:  # type: ignore[no-untyped-def]
    merchant = MerchantFactory()
    token = "100001:pasted-personal-token-4321"
    response = staff_client.post(
        reverse("admin:poster_sync_posteraccount_add"),
        {
            "merchant": merchant.pk,
            "account": "pasted-cafe",
            "account_number": "100001",
            "access_token": token,
            "source": "personal",
            "api_url": "",
            "is_active": "on",
            "sync_statuses-TOTAL_FORMS": "0",
            "sync_statuses-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    account = PosterAccount.objects.get(account="pasted-cafe")
    assert account.access_token == token
    change_url = reverse("admin:poster_sync_posteraccount_change", args=[account.pk])
    page = staff_client.get(change_url).content.decode()
    assert token not in page and "/poster/oauth/authorize/" in page
    assert token not in staff_client.get(reverse("admin:poster_sync_posteraccount_changelist")).content.decode()
    # Saving other fields with the token left blank keeps it.
    staff_client.post(
        change_url,
        {
            "merchant": merchant.pk,
            "account": "pasted-cafe",
            "account_number": "100002",
            "access_token": "",
            "source": "personal",
            "api_url": "",
            "is_active": "on",
            "sync_statuses-TOTAL_FORMS": "0",
            "sync_statuses-INITIAL_FORMS": "0",
        },
    )
    account.refresh_from_db()
    assert account.account_number == "100002" and account.access_token == token


def test_sync_now_queues_runs_and_a_second_click_is_rate_limited(
    staff_client,
    make_account,  # type: ignore[no-untyped-def]
    django_capture_on_commit_callbacks,
    monkeypatch,
) -> None:
    account = make_account()
    sent: list[int] = []
    monkeypatch.setattr("poster_sync.tasks.entity_sync_run.delay", lambda run_id: sent.append(run_id))
    url = reverse("admin:poster_sync_posteraccount_changelist")
    with django_capture_on_commit_callbacks(execute=True):
        first = staff_client.post(url, {"action": "sync_force", "_selected_action": [account.pk]}, follow=True)
    runs = list(SyncRun.objects.filter(kind__startswith="poster."))
    assert len(runs) == 5 and sorted(sent) == sorted(r.pk for r in runs)
    assert all(r.status == SyncRun.Status.QUEUED for r in runs) and "queued" in first.content.decode()
    second = staff_client.post(url, {"action": "sync_force", "_selected_action": [account.pk]}, follow=True)
    assert "try again in" in second.content.decode() and SyncRun.objects.count() == 5


def test_webhook_log_browser_filters_and_retries_failed(
    staff_client,
    make_account,
    monkeypatch,  # type: ignore[no-untyped-def]
    django_capture_on_commit_callbacks,
) -> None:
    account = make_account()
    failed = WebhookLog.objects.create(
        account=account,
        account_name=account.account,
        object="ingredient",
        object_id="77",
        action="changed",
        signature_valid=True,
        delivery_key="a",
        status=WebhookStatus.FAILED,
        last_error="boom",
    )
    WebhookLog.objects.create(
        account_name="x", object="ingredient", object_id="78", action="changed", status=WebhookStatus.REJECTED
    )
    url = reverse("admin:poster_sync_webhooklog_changelist")
    page = staff_client.get(url, {"status__exact": "failed"}).content.decode()
    assert ">77<" in page and ">78<" not in page
    assert staff_client.get(reverse("admin:poster_sync_webhooklog_change", args=[failed.pk])).status_code == 200
    sent: list[int] = []
    monkeypatch.setattr("poster_sync.tasks.webhook_process.delay", lambda pk: sent.append(pk))
    with django_capture_on_commit_callbacks(execute=True):
        staff_client.post(url, {"action": "retry", "_selected_action": [failed.pk]})
    assert sent == [failed.pk]


def test_a_new_token_in_the_admin_clears_needs_reconnect_and_a_blank_one_does_not(staff_client) -> None:  # type: ignore[no-untyped-def]
    """The admin saves through ``poster_account_save``: a token Poster refused stays flagged until a new one."""
    account = PosterAccount.objects.create(
        merchant=MerchantFactory(), account="refused-cafe", access_token="old-token", needs_reconnect=True
    )
    url = reverse("admin:poster_sync_posteraccount_change", args=[account.pk])
    form = {"account": "refused-cafe", "account_number": "", "access_token": "", "source": "personal", "api_url": "",
            "is_active": "on", "sync_statuses-TOTAL_FORMS": "0", "sync_statuses-INITIAL_FORMS": "0"}  # fmt: skip
    assert staff_client.post(url, form).status_code == 302
    account.refresh_from_db()
    assert account.needs_reconnect is True and account.access_token == "old-token"
    assert staff_client.post(url, {**form, "access_token": "new-token"}).status_code == 302
    account.refresh_from_db()
    assert account.needs_reconnect is False and account.access_token == "new-token"
