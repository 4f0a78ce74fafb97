"""Fixtures of the payments tests: simulators on loopback, a merchant with sandbox credentials."""

from __future__ import annotations

import secrets
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as paho
import pytest

from payments.models import Device, Drink, PaymentAccount, Provider
from sandbox.coffee_machine import CoffeeMachine
from sandbox.tbank import TBankSimulator
from sandbox.tmetr import TmetrSimulator
from sandbox.yookassa import YooKassaSimulator
from tests.support.simulators import simulator_env


@dataclass
class Sims:
    yookassa: YooKassaSimulator
    tbank: TBankSimulator
    tmetr: TmetrSimulator
    urls: dict[str, str]
    shop_id: str
    secret_key: str
    terminal_key: str
    terminal_password: str
    prefix: str

    def env(self, **extra: str) -> dict[str, str]:
        """Settings for a worker subprocess (override_settings does not cross processes)."""
        return {**self.urls, "MQTT_TOPIC_PREFIX": self.prefix, **extra}


@pytest.fixture
def sims(start_simulator: Callable[..., Any], settings: Any) -> Sims:
    shop_id, secret_key = f"shop-{secrets.token_hex(3)}", secrets.token_hex(12)
    terminal_key, terminal_password = f"Term{secrets.token_hex(3)}", secrets.token_hex(10)
    yk = YooKassaSimulator(accounts={shop_id: secret_key}, notify=False)
    tb = TBankSimulator(accounts={terminal_key: terminal_password})
    tm = TmetrSimulator()
    urls: dict[str, str] = {}
    for sim in (yk, tb, tm):
        start_simulator(sim)
        urls.update(simulator_env(sim))
    # Return/notification URLs point nowhere unless a test serves them (never at someone's `make run`).
    settings.PUBLIC_BASE_URL = "http://127.0.0.1:9"
    prefix = f"test-{uuid.uuid4().hex[:12]}"
    settings.MQTT_TOPIC_PREFIX = prefix
    return Sims(yk, tb, tm, urls, shop_id, secret_key, terminal_key, terminal_password, prefix)


@dataclass
class Shop:
    merchant: Any
    account: PaymentAccount
    device: Device
    mqtt_device: Device
    tbank_device: Device
    drink: Drink


@pytest.fixture
def shop(sims: Sims, db: None) -> Shop:
    from tests.factories import DeviceFactory, DrinkFactory, MerchantFactory, PaymentAccountFactory

    merchant = MerchantFactory()
    account = PaymentAccountFactory(
        merchant=merchant,
        yookassa_shop_id=sims.shop_id,
        yookassa_secret_key=sims.secret_key,
        tbank_terminal_key=sims.terminal_key,
        tbank_password=sims.terminal_password,
        two_stage=True,
    )
    suffix = uuid.uuid4().hex[:6]
    device = DeviceFactory(
        merchant=merchant,
        code=f"dev-{suffix}",
        name="Tmetr machine",
        channel=Device.Channel.TMETR,
        external_id=f"tm-{suffix}",
    )
    mqtt_device = DeviceFactory(
        merchant=merchant,
        code=f"mq-{suffix}",
        name="MQTT machine",
        channel=Device.Channel.MQTT,
        external_id=f"mq-{suffix}",
        ack_timeout_seconds=5,
    )
    tbank_device = DeviceFactory(
        merchant=merchant,
        code=f"tb-{suffix}",
        name="T-Bank machine",
        channel=Device.Channel.TMETR,
        external_id=f"tb-{suffix}",
        provider=Provider.TBANK,
    )
    drink = DrinkFactory(
        merchant=merchant, name="Капучино", external_id="2", price_small=15000, price_medium=17000, price_big=None
    )
    return Shop(merchant, account, device, mqtt_device, tbank_device, drink)


@pytest.fixture
def eager() -> Iterator[None]:
    """Run tasks inline (unit tests of services; the queue is crossed for real in test_exactly_once)."""
    from config.celery import app

    previous = app.conf.task_always_eager, app.conf.task_eager_propagates
    app.conf.task_always_eager, app.conf.task_eager_propagates = True, True
    yield
    app.conf.task_always_eager, app.conf.task_eager_propagates = previous


@pytest.fixture
def machine(sims: Sims) -> Iterator[CoffeeMachine]:
    m = CoffeeMachine(prefix=sims.prefix).start()
    yield m
    m.stop()


@pytest.fixture
def ack_listener(sims: Sims) -> Iterator[None]:
    """The mqtt_listener's loop, in a thread of the test process (it writes to the test database)."""
    from django.db import connection

    from payments.clients import mqtt
    from payments.management.commands.mqtt_listener import handle_ack

    def handle(ack: mqtt.Ack) -> None:
        try:
            handle_ack(ack)
        finally:
            connection.close()  # this thread's connection; the test database is dropped afterwards

    stop, ready = threading.Event(), threading.Event()
    thread = threading.Thread(
        target=mqtt.listen, args=(handle,), kwargs={"stop": stop, "prefix": sims.prefix, "ready": ready}, daemon=True
    )
    thread.start()
    assert ready.wait(10), "listener did not subscribe"
    yield
    stop.set()
    thread.join(5)
    end_mqtt_session(mqtt.listener_client_id(sims.prefix))


def end_mqtt_session(client_id: str) -> None:
    """Drop a persistent session a test left on the shared broker (connect once with a clean session)."""
    from payments.clients import mqtt

    client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=True)
    host, port, user, password = mqtt.broker()
    if user:
        client.username_pw_set(user, password)
    client.connect(host, port, keepalive=10)
    client.loop_start()
    try:
        client.disconnect()
    finally:
        client.loop_stop()
