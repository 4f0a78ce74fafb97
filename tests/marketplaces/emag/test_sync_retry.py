"""A sweep that fails transiently half-way is visibly retrying, and its retry ends it done with every
counter counted once (issue 19, SPEC PLAT-7/PLAT-14)."""

from __future__ import annotations

from typing import Any

import pytest

from core.models import SyncRun
from marketplaces.emag.clients.emag import EmagServerError
from marketplaces.emag.models import EmagAccount, EmagOrder
from marketplaces.emag.services import orders
from sandbox.emag import EmagSimulator
from sandbox.harness import Request, Response, json_response
from tests.marketplaces.emag.conftest import FAST

pytestmark = pytest.mark.django_db


class DyingEmag(EmagSimulator):
    """Answers 503 to the modified-orders reads while ``dying``: the sweep fails after its new-orders phase."""

    dying = True

    def order_read(self, request: Request) -> Response:
        body = request.json() or {}
        with self.lock:
            self.state.setdefault("reads", []).append("modified" if "modifiedAfter" in body else "other")
        if self.dying and "modifiedAfter" in body:
            return json_response({"isError": True, "messages": ["down"]}, 503)
        return super().order_read(request)


def test_a_transient_failure_leaves_the_sweep_retrying_and_its_retry_ends_it_done(
    start_simulator: Any, make_account: Any
) -> None:
    sim = DyingEmag(orders=7)
    start_simulator(sim, **FAST)
    account = make_account(sim)
    run = orders.sync_request(account=account, enqueue=False)
    with pytest.raises(EmagServerError):  # past the client's own retries
        orders.orders_sync(account=account, run=run)
    run.refresh_from_db()
    assert run.status == SyncRun.Status.RETRYING and "503" in run.error  # not failed: a retry comes
    assert run.counters["acknowledged"] == 7 and run.params["phase"] == "modified"
    assert "503" in EmagAccount.objects.get(pk=account.pk).last_error
    sim.dying = False
    reads_before = len(sim.state["reads"])
    run = orders.orders_sync(account=account, run=run)  # the retry of the same run

    assert run.status == SyncRun.Status.SUCCEEDED and run.error == "" and run.attempts == 1
    assert set(sim.state["reads"][reads_before:]) == {"modified"}  # resumed: new orders are not read again
    assert run.counters["created"] == 7 and run.counters["acknowledged"] == 7  # counted once
    assert EmagOrder.objects.filter(account=account).count() == 7
