"""Vendista API client (API_CONTRACTS.md "Vendista"; SPEC VEN-1).

Token as ``?token=`` (never a header); a fresh token from the login once on 401/404, then the call
is repeated; 402 is the account's unpaid subscription (``SubscriptionUnpaid``, permanent);
``/transactions`` is paged with ``PageNumber``/``ItemsOnPage`` (the server ignores limit/offset and
falls back to 50 per page). Every attempt first takes a slot of the account's ``pacer`` (declared
here, shared through Redis by every process). One pooled ``HttpClient`` per base URL for every
account (``core.http.http_client``): the token, the account's TLS ``verify`` and its pacer ride on
each request. No Django models here: callers pass plain values and get dataclasses back.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from core.exceptions import IntegrationError, TransientError
from core.http import HttpClient, http_client
from core.ratelimit import Pacer

SERVICE = "vendista"
DATE_FORMAT = "%Y-%m-%dT%H:%M:%S"


class VendistaError(IntegrationError):
    pass


class NotAnApiAnswer(TransientError, VendistaError):
    """HTTP 200 with an HTML page instead of JSON: a proxy's or captive portal's error page in front of
    Vendista. Transient: retried here, then by the sync task, never a failed sync."""


class SubscriptionUnpaid(VendistaError):
    """HTTP 402: the owner's Vendista subscription is unpaid; nothing works until it is paid."""


class AuthenticationFailed(VendistaError):
    """The token was refused and the login could not produce a working one."""


@dataclass(frozen=True, slots=True)
class VendistaTransaction:
    id: int
    term_id: int
    time: datetime  # naive, in the account's zone
    sum: int
    machine_item_id: int | None
    card_number: str
    status: int | None
    result: int | None
    reverse_id: int
    raw: dict[str, Any]

    @property
    def is_refund(self) -> bool:
        return self.sum <= 0 or self.reverse_id != 0


@dataclass(frozen=True)
class TransactionPage:
    page_number: int
    items_per_page: int
    items_count: int
    items: list[VendistaTransaction]
    requested_size: int

    @property
    def is_last(self) -> bool:
        """API_CONTRACTS stop rule: a short page, or page_number >= ceil(items_count / items_per_page)."""
        if len(self.items) < self.requested_size:
            return True
        per_page = self.items_per_page or self.requested_size
        return self.page_number >= math.ceil(self.items_count / per_page)


@dataclass(frozen=True)
class VendistaTerminal:
    id: int
    comment: str
    serial_number: str
    last_online_time: datetime | None
    last_hour_online: int | None
    raw: dict[str, Any] = field(repr=False)


def _int_or_none(value: Any) -> int | None:
    if value is None or value == "":
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def parse_time(value: Any) -> datetime:
    # "2026-01-05 06:50:28.236" (also accepts the T separator); no zone by design.
    return datetime.fromisoformat(str(value).replace("T", " ").rstrip("Z"))


def parse_transaction(item: dict[str, Any]) -> VendistaTransaction:
    try:
        machine_items = item.get("machine_item") or []
        first = machine_items[0] if machine_items and isinstance(machine_items[0], dict) else {}
        button = first.get("machine_item_id")
        return VendistaTransaction(
            id=int(item["id"]),
            term_id=int(item["term_id"]),
            time=parse_time(item["time"]),
            sum=int(item.get("sum") or 0),
            machine_item_id=_int_or_none(button),
            card_number=str(item.get("card_number") or "")[:64],
            status=_int_or_none(item.get("status")),
            result=_int_or_none(item.get("result")),
            reverse_id=int(item.get("reverse_id") or 0),
            raw=item,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise VendistaError(
            f"malformed transaction from Vendista: {type(exc).__name__} {exc}", service=SERVICE, permanent=True
        ) from exc


def parse_terminal(item: dict[str, Any]) -> VendistaTerminal:
    last_online = item.get("last_online_time")
    try:
        online = parse_time(last_online) if last_online else None
    except ValueError:
        online = None
    return VendistaTerminal(
        id=int(item["id"]),
        comment=str(item.get("comment") or ""),
        serial_number=str(item.get("serial_number") or ""),
        last_online_time=online,
        last_hour_online=_int_or_none(item.get("last_hour_online")),
        raw=item,
    )


_ENVELOPE_INT = {key: re.compile(rf'"{key}"\s*:\s*(\d+)') for key in ("page_number", "items_per_page", "items_count")}


@dataclass(frozen=True)
class RawTransactionPage:
    """A /transactions page kept as text for the database to parse in bulk (PERF-1).

    The envelope integers are read without decoding the items: the keys are unique to the envelope
    (an item's strings would carry them escaped).
    """

    page: int
    requested_size: int
    body: str
    items_count: int | None


def is_last_page(*, page_number: int, items_per_page: int, items_count: int, n_items: int, requested_size: int) -> bool:
    if n_items < requested_size:
        return True
    return page_number >= math.ceil(items_count / (items_per_page or requested_size))


def pacer(*, account_id: int, rate_per_second: float) -> Pacer:
    """The account's pace at Vendista (its ``rate_per_second``), evenly spaced across every process."""
    return Pacer(f"vendista:{account_id}", rate_per_second)


class VendistaClient:
    """One client object per account over the process's one pooled ``HttpClient``. ``on_token`` is
    called with a token obtained from the login."""

    def __init__(
        self,
        *,
        base_url: str,
        token: str = "",
        login: str = "",
        password: str = "",
        verify: bool | str = True,
        before_request: Callable[[], None] | None = None,
        on_token: Callable[[str], None] | None = None,
        page_size: int = 1000,
        http: HttpClient | None = None,
    ) -> None:
        self.http = http or http_client(SERVICE, base_url)
        self.verify = verify
        self.before_request = before_request
        self.token = token
        self.login = login
        self.password = password
        self.on_token = on_token
        self.page_size = page_size

    # --- auth --------------------------------------------------------------------------------
    def fetch_token(self) -> str:
        if not (self.login and self.password):
            raise AuthenticationFailed(
                "Vendista refused the token and no login/password is configured", service=SERVICE, permanent=True
            )
        try:
            body = self.http.json(
                "GET",
                "/token",
                params={"login": self.login, "password": self.password},
                verify=self.verify,
                before_request=self.before_request,
            )
        except IntegrationError as exc:
            if exc.status_code == 200:  # not JSON: a proxy's page in front of Vendista
                raise NotAnApiAnswer(
                    "Vendista /token answered 200 without JSON (a proxy's error page?)",
                    service=SERVICE,
                    status_code=200,
                    code="html_body",
                ) from exc
            if exc.status_code in (400, 401, 403, 404):
                raise AuthenticationFailed(
                    "Vendista rejected the login/password", service=SERVICE, permanent=True, status_code=exc.status_code
                ) from exc
            raise
        token = (body or {}).get("token") if isinstance(body, dict) else None
        if not token:
            raise AuthenticationFailed("Vendista /token answered without a token", service=SERVICE, permanent=True)
        self.token = str(token)
        if self.on_token is not None:
            self.on_token(self.token)
        return self.token

    def _get_text(self, path: str, params: dict[str, Any]) -> str:
        if not self.token:
            self.fetch_token()
        refreshed = False
        html_attempt = 0
        while True:
            try:
                response = self.http.get(
                    path,
                    params={**params, "token": self.token},
                    verify=self.verify,
                    before_request=self.before_request,
                )
            except IntegrationError as exc:
                if exc.status_code == 402:
                    raise SubscriptionUnpaid(
                        "Vendista subscription unpaid (HTTP 402)",
                        service=SERVICE,
                        permanent=True,
                        status_code=402,
                        code="subscription_unpaid",
                    ) from exc
                if exc.status_code in (401, 404) and not refreshed:
                    # An expired token answers 401 or 404: get a new one once, then repeat the call.
                    refreshed = True
                    self.fetch_token()
                    continue
                if exc.status_code in (401, 404):
                    raise AuthenticationFailed(
                        "Vendista refused a fresh token", service=SERVICE, permanent=True, status_code=exc.status_code
                    ) from exc
                raise
            if _looks_like_html(response):
                if html_attempt < self.http.retries_allowed():
                    self.http.sleep(self.http.retry.delay(html_attempt))
                    html_attempt += 1
                    continue
                raise NotAnApiAnswer(
                    "Vendista answered 200 with an HTML page (a proxy's error page?)",
                    service=SERVICE,
                    status_code=response.status_code,
                    code="html_body",
                )
            return response.content.decode("utf-8", errors="replace")

    def _get(self, path: str, params: dict[str, Any]) -> Any:
        text = self._get_text(path, params)
        try:
            return json.loads(text)
        except ValueError as exc:
            raise VendistaError("Vendista sent a body that is not JSON", service=SERVICE) from exc

    # --- endpoints ------------------------------------------------------------------------------
    def transactions_page(
        self,
        *,
        page: int,
        date_from: datetime | None = None,
        date_to: datetime | None = None,
        term_id: int | None = None,
        page_size: int | None = None,
    ) -> TransactionPage:
        size = page_size or self.page_size
        params = _transactions_params(page=page, size=size, date_from=date_from, date_to=date_to, term_id=term_id)
        body = self._get("/transactions", params)
        if not isinstance(body, dict) or body.get("success") is False:
            raise VendistaError("Vendista /transactions answered without success", service=SERVICE)
        items = body.get("items") or []
        return TransactionPage(
            page_number=int(body.get("page_number") or page),
            items_per_page=int(body.get("items_per_page") or size),
            items_count=int(body.get("items_count") or 0),
            items=[parse_transaction(item) for item in items],
            requested_size=size,
        )

    def iter_transaction_pages(
        self,
        *,
        date_from: datetime | None = None,
        date_to: datetime | None = None,
        term_id: int | None = None,
        start_page: int = 1,
    ) -> Iterator[TransactionPage]:
        page = start_page
        while True:
            result = self.transactions_page(page=page, date_from=date_from, date_to=date_to, term_id=term_id)
            yield result
            if result.is_last:
                return
            page += 1

    def transactions_page_raw(
        self,
        *,
        page: int,
        date_from: datetime | None = None,
        date_to: datetime | None = None,
        term_id: int | None = None,
    ) -> RawTransactionPage:
        size = self.page_size
        params = _transactions_params(page=page, size=size, date_from=date_from, date_to=date_to, term_id=term_id)
        body = self._get_text("/transactions", params)
        match = _ENVELOPE_INT["items_count"].search(body)
        return RawTransactionPage(
            page=page, requested_size=size, body=body, items_count=int(match.group(1)) if match else None
        )

    def terminals(self) -> list[VendistaTerminal]:
        found: list[VendistaTerminal] = []
        page = 1
        while True:
            body = self._get("/terminals", {"PageNumber": page, "ItemsOnPage": self.page_size})
            items = (body or {}).get("items") or [] if isinstance(body, dict) else []
            found.extend(parse_terminal(item) for item in items)
            count = int(body.get("items_count") or len(found)) if isinstance(body, dict) else len(found)
            if len(items) < self.page_size or len(found) >= count:
                return found
            page += 1

    def connection_test(self) -> int:
        """One cheap authenticated call; returns the number of transactions Vendista reports."""
        return self.transactions_page(page=1, page_size=1).items_count


def _looks_like_html(response: Any) -> bool:
    content_type = response.headers.get("Content-Type", "").lower()
    return "html" in content_type or response.content[:64].lstrip()[:1] == b"<"


def _transactions_params(
    *, page: int, size: int, date_from: datetime | None, date_to: datetime | None, term_id: int | None
) -> dict[str, Any]:
    """`PageNumber`/`ItemsOnPage` paging (the server ignores limit/offset) and the optional filters."""
    params: dict[str, Any] = {"PageNumber": page, "ItemsOnPage": size, "OrderDesc": "false"}
    if date_from is not None:
        params["DateFrom"] = date_from.strftime(DATE_FORMAT)
    if date_to is not None:
        params["DateTo"] = date_to.strftime(DATE_FORMAT)
    if term_id is not None:
        params["TermId"] = term_id
    return params
