"""Issue 19.4 / PAY-6: a database outage under the MQTT ack listener never loses a device's
acknowledgement. The listener runs as in production (its own process, ``manage.py mqtt_listener``),
its database connection goes through a TCP proxy the test cuts while the acknowledgements arrive
(the rest of the platform keeps its database). The broker is told "received" only after the
acknowledgement is committed, so the order ends successful and the hold is captured — never failed
by the late-ack sweep and refunded for a drink that was made.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from payments.clients import mqtt
from payments.models import BrewCommand, OrderStatus, Payment, Refund
from payments.services.orders import order_create
from payments.services.payments import payment_apply_status
from sandbox.coffee_machine import CoffeeMachine
from tests.payments.conftest import end_mqtt_session
from tests.support import mosquitto
from tests.support.processes import Processes
from tests.support.tcp_proxy import TcpProxy
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.django_db(transaction=True)]
ROOT = Path(__file__).resolve().parents[2]
# The listener retries with backoff up to ACK_RETRY_MAX_DELAY; a loaded machine may add a little.
APPLY_TIMEOUT = mqtt.ACK_RETRY_MAX_DELAY * 3


class ListenerProcess:
    """``manage.py mqtt_listener`` on the test database through ``proxy``; its output is kept."""

    def __init__(self, procs: Processes, proxy: TcpProxy, prefix: str) -> None:
        self.procs, self.proxy, self.prefix = procs, proxy, prefix
        self.lines: list[str] = []
        self.proc: subprocess.Popen[str] | None = None

    def start(self) -> ListenerProcess:
        db = settings.DATABASES["default"]
        user = db.get("USER") or "postgres"
        password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
        url = f"postgres://{user}{password}@127.0.0.1:{self.proxy.port}/{connection.settings_dict['NAME']}"
        env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.test", "DATABASE_URL": url}
        self.lines = []
        self.proc = self.procs.popen(
            [sys.executable, "manage.py", "mqtt_listener", "--prefix", self.prefix],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        threading.Thread(target=self._drain, args=(self.proc, self.lines), daemon=True).start()
        assert self.wait_for("mqtt_listener: subscribed", 120), self.output()
        return self

    @staticmethod
    def _drain(proc: subprocess.Popen[str], lines: list[str]) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)

    def wait_for(self, text: str, timeout: float) -> bool:
        try:
            wait_for(lambda: any(text in line for line in self.lines), timeout, what=repr(text))
        except AssertionError:
            return False  # the caller's assertion shows the listener's output
        return True

    def output(self) -> str:
        return "".join(self.lines[-60:])

    def stop(self) -> None:
        """SIGTERM, as a deploy or a restart does: the listener stops at once."""
        from tests.support.processes import stop

        assert self.proc is not None
        stop(self.proc)


@pytest.fixture
def db_proxy() -> Iterator[TcpProxy]:
    db = settings.DATABASES["default"]
    proxy = TcpProxy(str(db.get("HOST") or "127.0.0.1"), int(db.get("PORT") or 5432)).start()
    try:
        yield proxy
    finally:
        proxy.stop()


@pytest.fixture
def running() -> Iterator[Processes]:
    with Processes() as procs:
        yield procs


@pytest.fixture
def shared_broker_session(sims) -> Iterator[None]:
    """The listener's persistent session on the shared broker is ended after the test."""
    yield
    end_mqtt_session(mqtt.listener_client_id(sims.prefix))


@pytest.fixture
def mosquitto_broker(sims, settings, monkeypatch, tmp_path: Path) -> Iterator[CoffeeMachine]:
    """A private Mosquitto with the shipped settings (the production broker), everything of this test
    pointed at it: this process's publisher, the listener, the machine (which it yields)."""
    if not mosquitto.available():
        pytest.skip("mosquitto is not installed")
    with mosquitto.anonymous_broker(tmp_path) as port:
        settings.MQTT_URL = f"mqtt://127.0.0.1:{port}"
        monkeypatch.setenv("MQTT_URL", settings.MQTT_URL)  # inherited by the listener process
        monkeypatch.setattr(mqtt, "_publisher", None)  # this process publishes to it too
        machine = CoffeeMachine(prefix=sims.prefix, port=port).start()
        try:
            yield machine
        finally:
            machine.stop()
            if mqtt._publisher is not None:
                mqtt._publisher.close()


def _paid_order_brewed_while_the_database_is_cut(shop, sims, machine, db_proxy: TcpProxy):
    """A paid order whose command reaches the machine, which brews and acknowledges (accepted, done)
    while the listener's database is unreachable."""
    created = order_create(device=shop.mqtt_device, drink=shop.drink, size="small")
    sims.yookassa.pay(created.order.payment.provider_payment_id)
    payment = Payment.objects.get(order=created.order)
    db_proxy.cut()
    payment_apply_status(payment_id=payment.pk, status="waiting_for_capture", source="test")  # brew_send, eager
    command = BrewCommand.objects.get(order=created.order)
    wait_for(lambda: str(command.command_id) in machine.brewed, 10, what="the machine to brew")
    return created.order, payment, command


def _assert_brewed_and_captured(order, payment, command, machine) -> None:
    wait_for(lambda: BrewCommand.objects.get(pk=command.pk).status == BrewCommand.Status.DONE, APPLY_TIMEOUT)
    command.refresh_from_db()
    assert command.accepted_at is not None  # the "accepted" acknowledgement was not lost either
    order.refresh_from_db()
    assert order.status == OrderStatus.SUCCESSFUL
    # The hold is captured by the payments worker, never cancelled or refunded.
    wait_for(lambda: Payment.objects.get(pk=payment.pk).status == "succeeded", 30)
    assert not Refund.objects.filter(payment=payment).exists()
    assert len(machine.brewed) == 1


def test_acks_arriving_while_the_database_is_down_are_applied_when_it_is_back(
    shop, sims, eager, machine, db_proxy, running, shared_broker_session, start_worker
) -> None:
    start_worker(queues="payments", concurrency=1, extra_env=sims.env())
    listener = ListenerProcess(running, db_proxy, sims.prefix).start()
    order, payment, command = _paid_order_brewed_while_the_database_is_cut(shop, sims, machine, db_proxy)

    # The listener got the acknowledgements and could not commit them: not acknowledged to the broker.
    assert listener.wait_for("not acknowledged to the broker", 30), listener.output()
    assert db_proxy.refused > 0
    assert BrewCommand.objects.get(pk=command.pk).status == BrewCommand.Status.SENT

    db_proxy.restore()
    _assert_brewed_and_captured(order, payment, command, machine)


def test_acks_not_committed_before_a_restart_are_redelivered_by_the_broker(
    shop, sims, eager, mosquitto_broker, db_proxy, running, start_worker
) -> None:
    """Against Mosquitto, the production broker: it keeps a message the listener never acknowledged
    for the session and delivers it again when the listener comes back. (The embedded amqtt broker of
    a bare machine drops a QoS 1 message that is not acknowledged within 5 s, so it cannot.)"""
    machine = mosquitto_broker
    start_worker(queues="payments", concurrency=1, extra_env=sims.env())
    listener = ListenerProcess(running, db_proxy, sims.prefix).start()
    order, payment, command = _paid_order_brewed_while_the_database_is_cut(shop, sims, machine, db_proxy)
    assert listener.wait_for("not acknowledged to the broker", 30), listener.output()

    listener.stop()  # a deploy during the outage: what it held unacknowledged stays with the broker
    db_proxy.restore()
    assert BrewCommand.objects.get(pk=command.pk).status == BrewCommand.Status.SENT
    ListenerProcess(running, db_proxy, sims.prefix).start()  # the same session: the broker redelivers
    _assert_brewed_and_captured(order, payment, command, machine)
