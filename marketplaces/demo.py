"""`make run` demo data of the marketplaces app, per platform module. Never fails `make run`."""

from __future__ import annotations

import logging

from core.models import Merchant

log = logging.getLogger(__name__)


def demo_setup(*, merchant: Merchant) -> list[str]:
    try:
        from .kaspi.demo import demo_setup as kaspi_demo

        return kaspi_demo(merchant=merchant)
    except Exception:  # a demo of one marketplace must not stop the whole stack from starting
        log.exception("Kaspi demo setup failed; everything else runs")
        return ["Kaspi demo: not set up (see the log above)"]
