"""Issue 19.3 / PAY-8, PLAT-6: money never waits behind a sync, and a dropped periodic run is harmless.

The workers are started as the Procfile starts them (the same queues and concurrency per process),
on the real Redis broker.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from core.models import SyncRun
from payments.models import Order, OrderStatus, Payment, Refund
from payments.services.orders import order_create
from payments.services.payments import payment_apply_status
from sandbox.vendista import SANDBOX_LOGIN, SANDBOX_PASSWORD, VendistaSimulator
from tests.factories import MerchantFactory, VendistaAccountFactory
from tests.support.celery_worker import procfile_workers
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.django_db(transaction=True)]


def _settled(payment_id: int) -> bool:
    payment = Payment.objects.get(pk=payment_id)
    return payment.settlement in (Payment.Settlement.CAPTURED, Payment.Settlement.RETURNED) and (
        payment.settlement == Payment.Settlement.CAPTURED
        or Refund.objects.filter(payment=payment, status=Refund.Status.SUCCEEDED).exists()
    )


@pytest.mark.slow
def test_a_capture_and_a_refund_complete_while_two_long_syncs_hold_the_sync_worker(
    shop, sims, sandbox, start_worker
) -> None:
    # Two Vendista syncs of many pages, each request answered after 3 s: a minute or more each.
    vendista = VendistaSimulator(total=2000, terminals=2, start="2026-01-01T00:00:00", days=5)
    vendista.faults.latency_ms = 3000
    server = sandbox(vendista)
    env = sims.env(VENDISTA_API_URL=server.url, VENDISTA_PAGE_SIZE="50")
    workers = procfile_workers()
    for name in ("worker-sync", "worker-payments", "worker-brew"):  # the repricer's is not needed here
        queues, concurrency = workers[name]
        start_worker(queues=queues, concurrency=concurrency, extra_env=env)

    from vending.services import sync_request

    runs = []
    for _ in range(2):  # two long syncs: the sync worker's slots all busy, the rest waiting behind them
        account = VendistaAccountFactory(
            merchant=MerchantFactory(), login=SANDBOX_LOGIN, password=SANDBOX_PASSWORD, rate_per_second=1000.0
        )
        runs.append(sync_request(account=account).pk)
    busy = min(2, workers["worker-sync"][1])
    wait_for(
        lambda: SyncRun.objects.filter(pk__in=runs, status=SyncRun.Status.RUNNING).count() == busy,
        60,
        "the syncs running on the sync worker",
    )

    # A brewed drink paid by a YooKassa hold (→ capture) and a failed brew paid in one stage at T-Bank
    # (→ refund).
    shop.account.two_stage = True
    shop.account.save()
    captured = order_create(device=shop.device, drink=shop.drink, size="small").order
    shop.account.two_stage = False
    shop.account.save()
    refunded = order_create(device=shop.tbank_device, drink=shop.drink, size="small").order
    sims.tmetr.state["fail_devices"].add(shop.tbank_device.external_id)
    status = sims.yookassa.pay(captured.payment.provider_payment_id, method="bank_card")["status"]
    payment_apply_status(payment_id=captured.payment.pk, status=status, source="test")
    assert sims.tbank.pay(refunded.payment.provider_payment_id)["Status"] == "CONFIRMED"  # one stage
    payment_apply_status(payment_id=refunded.payment.pk, status="succeeded", source="test")

    payments = [captured.payment.pk, refunded.payment.pk]
    # Product timing: brew (Tmetr answers at once) + capture or refund, a few seconds on a loaded
    # machine. The syncs take a minute or more: what matters is that the money moved while they ran.
    wait_for(lambda: all(_settled(pk) for pk in payments), 45, "the capture and the refund")
    finished = [SyncRun.Status.SUCCEEDED, SyncRun.Status.FAILED]
    unfinished = SyncRun.objects.filter(pk__in=runs).exclude(status__in=finished)
    assert unfinished.count() == len(runs), "a sync finished first: the money waited behind it"
    assert Payment.objects.get(pk=captured.payment.pk).settlement == Payment.Settlement.CAPTURED
    refund = Refund.objects.get(payment_id=refunded.payment.pk)
    assert refund.kind == Refund.Kind.REFUND and refund.status == Refund.Status.SUCCEEDED
    assert Order.objects.get(pk=captured.pk).status == OrderStatus.SUCCESSFUL


def test_a_dropped_periodic_run_is_harmless_the_next_run_covers_it(shop, sims, start_worker) -> None:
    """Periodic jobs carry a short ``expires`` (a lagging worker must not pile them up), so a run can
    be dropped. Each run re-reads its work from the database: the next one does what it would have."""
    from core.tasks import ping
    from payments.tasks import orders_expire

    queues, concurrency = procfile_workers()["worker-payments"]
    start_worker(queues=queues, concurrency=concurrency, extra_env=sims.env())
    orders = [order_create(device=shop.device, drink=shop.drink, size="small").order for _ in range(2)]
    Order.objects.filter(pk__in=[o.pk for o in orders]).update(expires_at=timezone.now() - timedelta(minutes=1))

    # A run that waited past its expiry (the worker was busy or down): the worker drops it.
    orders_expire.apply_async(expires=timezone.now() - timedelta(seconds=1))
    assert ping.apply_async((1,), queue="payments").get(timeout=30) == 2  # consumed after the dropped run
    assert set(Order.objects.filter(pk__in=[o.pk for o in orders]).values_list("status", flat=True)) != {
        OrderStatus.NOT_PAID
    }

    # The next run, as beat sends it (the job's own expires), expires both.
    from core.scheduling import registered_jobs

    job = next(j for j in registered_jobs() if j.task == orders_expire.name)
    assert orders_expire.apply_async(queue=job.queue, expires=job.expires_seconds).get(timeout=30) == 2
    assert set(Order.objects.filter(pk__in=[o.pk for o in orders]).values_list("status", flat=True)) == {
        OrderStatus.NOT_PAID
    }
