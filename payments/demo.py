"""Demo objects for `make run`: a device whose QR URL works end to end against the sandbox."""

from __future__ import annotations

import secrets

from django.conf import settings

from core.models import Merchant

from .models import Device, Drink, PaymentAccount, Provider, TmetrAccount


def demo_setup(*, merchant: Merchant) -> list[str]:
    account, created = PaymentAccount.objects.get_or_create(merchant=merchant)
    if created or not account.yookassa_shop_id:
        # Sandbox-only credentials, generated per install (the simulator accepts any pair).
        account.yookassa_shop_id = "sandbox-shop"
        account.yookassa_secret_key = f"sandbox-{secrets.token_hex(8)}"
        account.tbank_terminal_key = "DemoTerminal"
        account.tbank_password = "demo-password"  # the T-Bank simulator's demo terminal
        account.two_stage = True
        account.issues_receipts = True
        account.save()
    tmetr, _ = TmetrAccount.objects.get_or_create(merchant=merchant)
    if not tmetr.username:
        # The sandbox's Keycloak lets anyone log in; the token is fetched at the first Tmetr call.
        tmetr.username, tmetr.password = "demo", f"sandbox-{secrets.token_hex(8)}"
        tmetr.save()
    mqtt_device, _ = Device.objects.update_or_create(
        code="demo-espresso",
        defaults={
            "merchant": merchant,
            "name": "Кофемашина в холле (MQTT)",
            "location": "Песочница, 1 этаж",
            "channel": Device.Channel.MQTT,
            "external_id": "demo-espresso",
            "provider": Provider.YOOKASSA,
            "ack_timeout_seconds": 60,
        },
    )
    tmetr_device, _ = Device.objects.update_or_create(
        code="demo-tmetr",
        defaults={
            "merchant": merchant,
            "name": "Кофемашина у входа (Tmetr, T-Bank)",
            "channel": Device.Channel.TMETR,
            "external_id": "tmetr-demo-1",
            "provider": Provider.TBANK,
        },
    )
    for name, number, prices in (
        ("Эспрессо", "1", (9000, 11000, None)),
        ("Капучино", "2", (14000, 16000, 18000)),
        ("Латте", "3", (15000, 17000, 19000)),
    ):
        Drink.objects.update_or_create(
            merchant=merchant,
            device=None,
            external_id=number,
            defaults={"name": name, "price_small": prices[0], "price_medium": prices[1], "price_big": prices[2]},
        )
    base = settings.PUBLIC_BASE_URL.rstrip("/")
    return [
        f"Buyer QR (YooKassa + MQTT coffee machine): {base}/q/{mqtt_device.code}/",
        f"Buyer QR (T-Bank + Tmetr): {base}/q/{tmetr_device.code}/",
        f"Legacy machine QR: {base}/v1/pay?deviceUuid={tmetr_device.external_id}&drinkNo=2&size=1&uuid=demo-1",
        "Payments admin: /admin/payments/order/",
    ]
