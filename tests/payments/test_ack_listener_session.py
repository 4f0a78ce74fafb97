"""PAY-8 / issue 8.2: acknowledgements survive a restart of the ack listener (real Mosquitto).

The listener holds a persistent session (fixed client id, clean_session=False, QoS 1): what the
machine publishes while it is down is queued by the broker and applied when it is back — the order
completes and the hold is captured, instead of the late-ack sweep refunding a drink that was made.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
from django.db import connection

from payments.clients import mqtt
from payments.management.commands.mqtt_listener import handle_ack
from payments.models import BrewCommand, OrderStatus, Payment
from payments.services.orders import order_create
from payments.services.payments import payment_apply_status
from tests.payments.conftest import end_mqtt_session
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.django_db(transaction=True)]


class Listener:
    """The mqtt_listener loop in a thread, which the test can stop and start again (a restart)."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.stop_event: threading.Event | None = None
        self.thread: threading.Thread | None = None

    @staticmethod
    def _handle(ack: mqtt.Ack) -> None:
        try:
            handle_ack(ack)
        finally:
            connection.close()

    def start(self) -> None:
        self.stop_event, ready = threading.Event(), threading.Event()
        self.thread = threading.Thread(
            target=mqtt.listen,
            args=(self._handle,),
            daemon=True,
            kwargs={"stop": self.stop_event, "prefix": self.prefix, "ready": ready},
        )
        self.thread.start()
        assert ready.wait(10), "listener did not subscribe"

    def stop(self) -> None:
        assert self.stop_event is not None and self.thread is not None
        self.stop_event.set()
        self.thread.join(10)
        assert not self.thread.is_alive()


@pytest.fixture
def listener(sims) -> Iterator[Listener]:
    item = Listener(sims.prefix)
    try:
        yield item
    finally:
        if item.thread is not None and item.thread.is_alive():
            item.stop()
        end_mqtt_session(mqtt.listener_client_id(sims.prefix))


def test_acks_sent_while_the_listener_is_down_complete_the_order(shop, sims, eager, machine, listener) -> None:
    listener.start()  # the first start creates the session and its QoS 1 subscription at the broker
    listener.stop()  # a restart / deploy begins

    created = order_create(device=shop.mqtt_device, drink=shop.drink, size="small")
    sims.yookassa.pay(created.order.payment.provider_payment_id)
    payment = Payment.objects.get(order=created.order)
    payment_apply_status(payment_id=payment.pk, status="waiting_for_capture", source="test")
    command = BrewCommand.objects.get(order=created.order)
    # The machine brewed and acknowledged (accepted, done) while nobody was listening.
    wait_for(lambda: str(command.command_id) in machine.brewed, 10, what="the machine to brew")
    time.sleep(0.5)  # its QoS 1 publishes reach the broker
    command.refresh_from_db()
    assert command.status == BrewCommand.Status.SENT  # nothing applied yet

    listener.start()  # back: the broker delivers what it queued for the session
    wait_for(lambda: BrewCommand.objects.get(pk=command.pk).status == BrewCommand.Status.DONE, 10)
    command.refresh_from_db()
    assert command.accepted_at is not None
    created.order.refresh_from_db()
    assert created.order.status == OrderStatus.SUCCESSFUL
    wait_for(lambda: Payment.objects.get(pk=payment.pk).status == "succeeded", 10)  # captured, not refunded
    assert len(machine.brewed) == 1


def test_listener_client_id_is_fixed_per_topic_prefix(settings) -> None:
    settings.MQTT_LISTENER_CLIENT_ID = ""
    settings.MQTT_CLIENT_ID_PREFIX = "merchant-ops"
    assert mqtt.listener_client_id("devices") == mqtt.listener_client_id("devices") == "merchant-ops-listener-devices"
    assert mqtt.listener_client_id("$devices") == "merchant-ops-listener--devices"
    settings.MQTT_LISTENER_CLIENT_ID = "site-a-listener"
    assert mqtt.listener_client_id("devices") == "site-a-listener"
