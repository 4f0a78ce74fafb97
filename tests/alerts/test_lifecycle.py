"""SPEC OWN-3/OWN-4: each condition opens one alert and closes it once, one message each way;
a storm is one alert; a failing channel is retried with backoff and shown failing; the cap holds."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.utils import timezone

from alerts.models import Alert, AlertChannel, AlertSettings, Condition, Delivery
from alerts.services.delivery import deliveries_send_due
from alerts.services.lifecycle import alerts_evaluate
from core.models import SyncRun
from marketplaces.kaspi.models import KaspiStore
from payments.models import BrewCommand, Payment
from tests.factories import (
    BrewCommandFactory,
    DeviceFactory,
    MerchantFactory,
    OrderFactory,
    PaymentFactory,
    VendistaAccountFactory,
)
from vending.models import VendistaAccount

from .inbox import Inbox

pytestmark = pytest.mark.django_db


def _sync_failing(merchant: Any) -> Callable[[], None]:
    for _ in range(3):
        SyncRun.objects.create(merchant=merchant, kind="vending.transactions", status="failed", error="boom")

    def clear() -> None:
        SyncRun.objects.create(merchant=merchant, kind="vending.transactions", status="succeeded")

    return clear


def _brew_failing(merchant: Any) -> Callable[[], None]:
    device = DeviceFactory(merchant=merchant)
    for _ in range(3):
        BrewCommandFactory(order=OrderFactory(device=device), status=BrewCommand.Status.FAILED)

    def clear() -> None:
        BrewCommandFactory(order=OrderFactory(device=device), status=BrewCommand.Status.DONE)

    return clear


def _kaspi_relogin(merchant: Any) -> Callable[[], None]:
    store = KaspiStore.objects.create(
        merchant=merchant, name="s", merchant_uid=f"u{merchant.pk}", session_state="needs_relogin"
    )

    def clear() -> None:
        KaspiStore.objects.filter(pk=store.pk).update(session_state="ok")

    return clear


def _settlement_stuck(merchant: Any) -> Callable[[], None]:
    payment = PaymentFactory(order__device__merchant=merchant, settlement=Payment.Settlement.RETURN_FAILED)

    def clear() -> None:
        Payment.objects.filter(pk=payment.pk).update(settlement=Payment.Settlement.RETURNED)

    return clear


def _vendista_unpaid(merchant: Any) -> Callable[[], None]:
    account = VendistaAccountFactory(merchant=merchant, subscription_status=VendistaAccount.Subscription.UNPAID)

    def clear() -> None:
        VendistaAccount.objects.filter(pk=account.pk).update(subscription_status="active")

    return clear


def _emag_unacknowledged(merchant: Any) -> Callable[[], None]:
    from marketplaces.emag.models import EmagAccount, EmagOrder

    account = EmagAccount.objects.create(merchant=merchant, name="ro", api_user="u", api_password="p")
    order = EmagOrder.objects.create(account=account, emag_id=1, status=1, raw={})
    EmagOrder.objects.filter(pk=order.pk).update(first_seen_at=timezone.now() - timedelta(minutes=31))
    fresh = EmagOrder.objects.create(account=account, emag_id=2, status=1, raw={})  # within its 30 minutes

    def clear() -> None:
        EmagOrder.objects.filter(pk=order.pk).update(status=2, acknowledged_at=timezone.now())
        assert EmagOrder.objects.filter(pk=fresh.pk, acknowledged_at__isnull=True).exists()

    return clear


def _poster_webhooks_failing(merchant: Any) -> Callable[[], None]:
    from poster_sync.models import PosterAccount, WebhookLog

    account = PosterAccount.objects.create(merchant=merchant, account=f"acc{merchant.pk}", access_token="t")
    # One given up, two still being retried: each one's last attempt failed.
    for status in ("failed", "retry", "retry"):
        WebhookLog.objects.create(account=account, payload={}, signature_valid=True, status=status, last_error="500")

    def clear() -> None:
        WebhookLog.objects.create(account=account, payload={}, signature_valid=True, status="processed")

    return clear


def _brew_silent(merchant: Any) -> Callable[[], None]:
    """One buyer paid, the machine never acknowledged, nobody else came: no count of failures in
    a row reaches its threshold, the minutes do."""
    device = DeviceFactory(merchant=merchant)
    brew = BrewCommandFactory(order=OrderFactory(device=device), status=BrewCommand.Status.SENT)
    BrewCommand.objects.filter(pk=brew.pk).update(created_at=timezone.now() - timedelta(minutes=31))
    # Another machine's failure of a moment ago: not (yet) an alert.
    BrewCommandFactory(order=OrderFactory(device=DeviceFactory(merchant=merchant)), status=BrewCommand.Status.FAILED)

    def clear() -> None:
        BrewCommandFactory(order=OrderFactory(device=device), status=BrewCommand.Status.DONE)

    return clear


def _poster_reconnect(merchant: Any) -> Callable[[], None]:
    from poster_sync.models import PosterAccount

    account = PosterAccount.objects.create(
        merchant=merchant, account=f"acc{merchant.pk}", access_token="t", needs_reconnect=True
    )
    PosterAccount.objects.create(merchant=merchant, account=f"off{merchant.pk}", needs_reconnect=True, is_active=False)

    def clear() -> None:
        PosterAccount.objects.filter(pk=account.pk).update(needs_reconnect=False)

    return clear


def _price_at_floor(merchant: Any) -> Callable[[], None]:
    from marketplaces.kaspi.models import KaspiProduct
    from repricer.models import RepricingRule

    store = KaspiStore.objects.create(merchant=merchant, name="s", merchant_uid=f"f{merchant.pk}")
    rules = [
        RepricingRule.objects.create(
            product=KaspiProduct.objects.create(store=store, sku=f"sku{n}", kaspi_product_id=f"{merchant.pk}0{n}"),
            min_price=100,
            max_price=200,
            at_floor_since=timezone.now() - timedelta(hours=hours),
        )
        for n, hours in enumerate((7, 8, 1))  # two past the 6 hours, one not yet: one alert for the store
    ]

    def clear() -> None:
        RepricingRule.objects.filter(pk__in=[r.pk for r in rules]).update(at_floor_since=None)

    return clear


def _emag_health(merchant: Any) -> Callable[[], None]:
    from marketplaces.emag.models import EmagAccount

    AlertSettings.objects.create(merchant=merchant, emag_health_min=80)
    account = EmagAccount.objects.create(merchant=merchant, name="ro", api_user="u", api_password="p")
    for _ in range(2):  # every sync of the day failed: 30 points off (two: under the failing-sync count)
        SyncRun.objects.create(merchant=merchant, kind="emag.orders", account=account, status="failed")

    def clear() -> None:
        for _ in range(18):
            SyncRun.objects.create(merchant=merchant, kind="emag.orders", account=account, status="succeeded")

    return clear


SCENARIOS = {
    "sync_failing": (Condition.SYNC_FAILING, _sync_failing),
    "brew_failing": (Condition.BREW_FAILING, _brew_failing),
    "brew_silent": (Condition.BREW_FAILING, _brew_silent),
    "kaspi_relogin": (Condition.KASPI_RELOGIN, _kaspi_relogin),
    "settlement_stuck": (Condition.SETTLEMENT_STUCK, _settlement_stuck),
    "vendista_unpaid": (Condition.VENDISTA_UNPAID, _vendista_unpaid),
    "emag_unacknowledged": (Condition.EMAG_UNACKNOWLEDGED, _emag_unacknowledged),
    "emag_health": (Condition.EMAG_HEALTH, _emag_health),
    "poster_webhooks_failing": (Condition.POSTER_WEBHOOKS_FAILING, _poster_webhooks_failing),
    "poster_reconnect": (Condition.POSTER_RECONNECT, _poster_reconnect),
    "price_at_floor": (Condition.PRICE_AT_FLOOR, _price_at_floor),
}


def test_every_condition_has_a_scenario() -> None:
    assert {condition for condition, _ in SCENARIOS.values()} == set(Condition.values)


def channel(merchant: Any, url: str) -> AlertChannel:
    return AlertChannel.objects.create(merchant=merchant, name="sandbox", kind="apprise", secret=url)


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_condition_opens_once_and_closes_once_with_one_message_each_way(scenario: str, inbox: Inbox) -> None:
    merchant = MerchantFactory()
    channel(merchant, inbox.url)
    bystander = MerchantFactory()
    channel(bystander, inbox.url.replace("/inbox", "/other"))
    condition, make = SCENARIOS[scenario]
    clear = make(merchant)

    alerts_evaluate()
    alerts_evaluate()
    deliveries_send_due()
    alert = Alert.objects.get(merchant=merchant)
    assert alert.condition == condition and alert.is_open
    assert [m["title"] for m in inbox.messages] == [f"Needs attention: {alert.title}"]

    clear()
    alerts_evaluate()
    alerts_evaluate()
    deliveries_send_due()
    alert.refresh_from_db()
    assert not alert.is_open
    assert len(inbox.messages) == 2 and inbox.messages[1]["title"].startswith("Resolved: ")
    # Another merchant's channel never hears of it.
    assert not Alert.objects.filter(merchant=bystander).exists()
    assert not Delivery.objects.filter(channel__merchant=bystander).exists()


def test_threshold_is_the_owners() -> None:
    merchant = MerchantFactory()
    AlertSettings.objects.create(merchant=merchant, sync_failures=5)
    _sync_failing(merchant)  # 3 failures < 5
    alerts_evaluate()
    assert not Alert.objects.exists()
    for _ in range(2):
        SyncRun.objects.create(merchant=merchant, kind="vending.transactions", status="failed")
    alerts_evaluate()
    assert Alert.objects.filter(condition=Condition.SYNC_FAILING).count() == 1


def test_a_storm_of_failing_syncs_is_one_alert(inbox: Inbox) -> None:
    merchant = MerchantFactory()
    channel(merchant, inbox.url)
    SyncRun.objects.bulk_create(
        SyncRun(merchant=merchant, kind="emag.orders", status="failed", error="500") for _ in range(1000)
    )
    alerts_evaluate()
    deliveries_send_due()
    assert Alert.objects.count() == 1
    assert len(inbox.messages) == 1


def test_a_failing_channel_is_retried_with_backoff_and_shown_failing(inbox: Inbox) -> None:
    merchant = MerchantFactory()
    ch = channel(merchant, inbox.url)
    _vendista_unpaid(merchant)
    inbox.fail = True
    alerts_evaluate()
    assert deliveries_send_due() == (0, 1)
    delivery = Delivery.objects.get()
    ch.refresh_from_db()
    assert ch.is_failing and ch.last_error
    assert delivery.status == Delivery.Status.PENDING and delivery.attempts == 1
    assert delivery.next_attempt_at > timezone.now() + timedelta(seconds=20)
    assert deliveries_send_due() == (0, 0)  # not before its backoff

    inbox.fail = False
    with time_machine.travel(timezone.now() + timedelta(seconds=31), tick=True):
        assert deliveries_send_due() == (1, 0)
    ch.refresh_from_db()
    assert not ch.is_failing
    assert len(inbox.messages) == 1


def test_past_the_hourly_cap_messages_wait_for_one_digest(inbox: Inbox) -> None:
    merchant = MerchantFactory()
    AlertSettings.objects.create(merchant=merchant, hourly_cap=2)
    channel(merchant, inbox.url)
    for _ in range(4):
        VendistaAccountFactory(merchant=merchant, subscription_status=VendistaAccount.Subscription.UNPAID)
    alerts_evaluate()
    deliveries_send_due()
    assert Alert.objects.count() == 4
    assert len(inbox.messages) == 2
    assert Delivery.objects.filter(status=Delivery.Status.HELD).count() == 2

    with time_machine.travel(timezone.now() + timedelta(hours=1, minutes=1), tick=True):
        deliveries_send_due()
    assert len(inbox.messages) == 3
    assert "2 more alert" in inbox.messages[2]["title"]
    assert Delivery.objects.filter(status=Delivery.Status.DIGESTED).count() == 2


def test_message_links_to_the_object_on_the_public_site(inbox: Inbox, settings: Any) -> None:
    settings.PUBLIC_BASE_URL = "https://ops.example.com/"
    merchant = MerchantFactory()
    channel(merchant, inbox.url)
    _kaspi_relogin(merchant)
    alerts_evaluate()
    deliveries_send_due()
    store = KaspiStore.objects.get(merchant=merchant)
    assert f"https://ops.example.com/admin/kaspi/kaspistore/{store.pk}/change/" in inbox.messages[0]["message"]


def test_quiet_hours_hold_messages_for_one_digest_after(inbox: Inbox) -> None:
    from datetime import time

    merchant = MerchantFactory(time_zone="Europe/Moscow")
    AlertSettings.objects.create(merchant=merchant, quiet_from=time(23), quiet_to=time(7))
    channel(merchant, inbox.url)
    night = timezone.make_aware(datetime(2026, 3, 10, 2, 0), ZoneInfo("Europe/Moscow"))
    with time_machine.travel(night, tick=True):
        _vendista_unpaid(merchant)
        alerts_evaluate()
        deliveries_send_due()
    assert inbox.messages == []
    with time_machine.travel(night + timedelta(hours=5, minutes=1), tick=True):  # 07:01
        deliveries_send_due()
    assert len(inbox.messages) == 1 and "1 more alert" in inbox.messages[0]["title"]


def test_a_channel_switched_off_after_queueing_sends_nothing(inbox: Inbox) -> None:
    merchant = MerchantFactory()
    ch = channel(merchant, inbox.url)
    _vendista_unpaid(merchant)
    alerts_evaluate()
    AlertChannel.objects.filter(pk=ch.pk).update(is_active=False)
    deliveries_send_due()
    assert inbox.messages == []
    assert Delivery.objects.get().last_error == "channel switched off"


def test_the_floor_hours_are_the_owners() -> None:
    """The store alert counts only products past the merchant's own hours, not the default's."""
    merchant = MerchantFactory()
    _price_at_floor(merchant)  # two products 7 h and 8 h at the floor, one 1 h
    AlertSettings.objects.create(merchant=merchant, floor_hours=10)
    alerts_evaluate()
    assert not Alert.objects.filter(merchant=merchant).exists()
    AlertSettings.objects.filter(merchant=merchant).update(floor_hours=8)
    alerts_evaluate()
    alert = Alert.objects.get(merchant=merchant, condition=Condition.PRICE_AT_FLOOR)
    assert alert.detail.startswith("1 product(s)")  # only the 8-hour one is past 8 hours
