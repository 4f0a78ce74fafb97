from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from core.models import Merchant
from poster_sync.models import PosterAccount
from poster_sync.services.objects import object_lane
from poster_sync.services.sync import ENTITY_NAMES, _manual_limiter
from sandbox.harness import SandboxServer
from sandbox.poster import SANDBOX_ACCOUNT, SANDBOX_TOKEN, PosterSimulator
from tests.factories import MerchantFactory

APP_ID = "test-app"


@dataclass
class PosterSandbox:
    sim: PosterSimulator
    server: SandboxServer
    secret: str

    @property
    def api_url(self) -> str:
        return f"{self.server.url}/api"


@pytest.fixture
def poster(start_simulator: Callable[..., SandboxServer]) -> PosterSandbox:
    """A Poster simulator with a fresh application secret, and the settings pointed at it."""
    secret = secrets.token_hex(16)
    sim = PosterSimulator(app_id=APP_ID, app_secret=secret, webhook_retries=0, webhook_retry_delay=0.0)
    server = start_simulator(sim, POSTER_APP_ID=APP_ID, POSTER_APP_SECRET=secret, POSTER_REDIRECT_URI="")
    return PosterSandbox(sim=sim, server=server, secret=secret)


@pytest.fixture
def make_account(poster: PosterSandbox) -> Callable[..., PosterAccount]:
    def make(merchant: Merchant | None = None, *, name: str = SANDBOX_ACCOUNT, **fields: Any) -> PosterAccount:
        token = SANDBOX_TOKEN if name == SANDBOX_ACCOUNT else poster.sim.add_account(name)
        account = PosterAccount.objects.create(
            merchant=merchant or MerchantFactory(),
            account=name,
            access_token=token,
            api_url=poster.api_url,
            account_number=poster.sim.state["accounts"][name]["number"],
            **fields,
        )
        for entity in ENTITY_NAMES:  # the limiter and the lanes live in Redis, beyond the test's transaction
            _manual_limiter(account, entity).reset()
            object_lane(account=account, entity=entity).reset()
        return account

    return make
