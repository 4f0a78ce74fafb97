from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from marketplaces.kaspi.models import KaspiStore, SessionState
from sandbox.kaspi import SANDBOX_EMAIL, SANDBOX_MERCHANT_UID, SANDBOX_PASSWORD, SANDBOX_SHOP_TOKEN, KaspiSimulator
from tests.factories import MerchantFactory
from tests.support.simulators import simulator_env


@pytest.fixture
def kaspi(start_simulator: Callable[..., Any], settings: Any, tmp_path: Any) -> Callable[..., KaspiSimulator]:
    """Start a Kaspi simulator and point every KASPI_*_URL at it; screenshots go to a temporary MEDIA_ROOT."""
    settings.MEDIA_ROOT = str(tmp_path / "media")

    def start(**options: Any) -> KaspiSimulator:
        sim = KaspiSimulator(**options)
        start_simulator(sim, KASPI_LOGIN_TIMEOUT_SECONDS=20.0)
        return sim

    return start


def sim_env(sim: KaspiSimulator) -> dict[str, str]:
    """The same settings for a Celery worker process."""
    return simulator_env(sim)


@pytest.fixture
def make_store(db: None) -> Callable[..., KaspiStore]:
    def make(merchant: Any = None, *, sim: KaspiSimulator | None = None, **fields: Any) -> KaspiStore:
        values: dict[str, Any] = {
            "name": "Sandbox store",
            "merchant_uid": SANDBOX_MERCHANT_UID,
            "shop_api_token": SANDBOX_SHOP_TOKEN,
            "cabinet_email": SANDBOX_EMAIL,
            "cabinet_password": SANDBOX_PASSWORD,
            **fields,
        }
        if sim is not None:  # already logged in (for tests that are not about the login)
            cookies = sim.open_session(values["merchant_uid"] or SANDBOX_MERCHANT_UID)
            values.update(
                session_state=SessionState.OK,
                session_generation=1,
                session_cookies=json.dumps(
                    [{"name": k, "value": v, "domain": "127.0.0.1", "path": "/"} for k, v in cookies.items()]
                ),
            )
        return KaspiStore.objects.create(merchant=merchant or MerchantFactory(), **values)

    return make
