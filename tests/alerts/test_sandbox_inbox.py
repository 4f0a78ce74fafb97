"""SPEC OWN-4 sandbox: the demo merchant's channel posts to the sandbox inbox, whose page shows it."""

from __future__ import annotations

import urllib.request
from collections.abc import Callable
from typing import Any

import pytest
from django.test import override_settings

from alerts.demo import demo_setup
from alerts.models import AlertChannel
from alerts.services.channels import alert_channel_test
from alerts.services.delivery import deliveries_send_due
from sandbox.alert_inbox import AlertInboxSimulator
from tests.factories import MerchantFactory

pytestmark = pytest.mark.django_db


def test_demo_channel_delivers_to_the_sandbox_page(sandbox: Callable[..., Any]) -> None:
    server = sandbox(AlertInboxSimulator())
    merchant = MerchantFactory()
    with override_settings(ALERTS_SANDBOX_URL=f"{server.url}/inbox"):
        lines = demo_setup(merchant=merchant)
        demo_setup(merchant=merchant)  # a second `make run` keeps one channel
    assert server.url in lines[0]
    channel = AlertChannel.objects.get(merchant=merchant)
    alert_channel_test(channel=channel)
    assert deliveries_send_due() == (1, 0)
    page = urllib.request.urlopen(f"{server.url}/", timeout=5).read().decode()
    assert "merchant-ops: test message" in page


def test_no_sandbox_no_demo_channel() -> None:
    merchant = MerchantFactory()
    with override_settings(ALERTS_SANDBOX_URL=""):
        assert demo_setup(merchant=merchant) == []
    assert not AlertChannel.objects.exists()
