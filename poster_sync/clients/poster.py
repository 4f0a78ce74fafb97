"""Poster POS API client (API_CONTRACTS.md "Poster POS"; SPEC POS-1 … POS-3).

``GET {base}/{method}?token=...&format=json``. Success is ``{"response": ...}``; a failure is
``{"error": {"code": N, "message": ...}}`` even with HTTP 200, so the body is always checked:
700 (rate restriction) is transient and retried with backoff; 10/11/12 (token missing, invalid,
expired) is ``PosterTokenError`` (permanent: the owner must reconnect). Every value Poster sends is
a string; the parsers here cast them explicitly. One pooled ``HttpClient`` per account API URL
(``core.http.http_client``); the token and the account's ``pacer`` (declared here) ride on each
request. No Django models here.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from urllib3 import encode_multipart_formdata

from core.exceptions import IntegrationError, TransientError
from core.http import http_client
from core.ratelimit import Pacer

SERVICE = "poster"
RATE_RESTRICTION = 700
TOKEN_ERRORS = frozenset({10, 11, 12})


class PosterError(IntegrationError):
    """Poster answered with an error body."""


class PosterRateLimited(TransientError):
    """Error 700: Poster's rate restriction; try again later."""


class PosterTokenError(PosterError):
    """Error 10/11/12: the token is missing, invalid or expired; the account must be reconnected."""


# --- casting Poster's strings -------------------------------------------------------------------------


def to_int(value: Any) -> int | None:
    if value is None or value == "":
        return None
    try:
        return int(str(value).strip())
    except ValueError:
        try:
            return int(Decimal(str(value).strip()))
        except (InvalidOperation, ValueError):
            return None


def to_bool(value: Any) -> bool:
    return str(value).strip().lower() in ("1", "true", "yes")


def to_decimal(value: Any) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def to_str(value: Any, limit: int) -> str:
    return "" if value is None else str(value).replace("\x00", "")[:limit]


@dataclass(frozen=True)
class PosterItem:
    """One object of any entity: its id, whether Poster marks it deleted, typed fields, the raw item."""

    poster_id: int
    deleted: bool
    fields: dict[str, Any]
    raw: dict[str, Any] = field(repr=False)


def _item(raw: dict[str, Any], id_key: str, fields: dict[str, Any]) -> PosterItem:
    poster_id = to_int(raw.get(id_key))
    if poster_id is None:
        raise PosterError(f"Poster item without {id_key}", service=SERVICE, permanent=True)
    return PosterItem(poster_id=poster_id, deleted=to_bool(raw.get("delete", "0")), fields=fields, raw=raw)


def parse_supplier(raw: dict[str, Any]) -> PosterItem:
    return _item(
        raw,
        "supplier_id",
        {
            "name": to_str(raw.get("supplier_name"), 300),
            "phone": to_str(raw.get("supplier_phone"), 100),
            "address": to_str(raw.get("supplier_adress"), 500),
            "comment": to_str(raw.get("supplier_comment"), 5000),
            "tin": to_str(raw.get("supplier_tin"), 64),
        },
    )


def parse_storage(raw: dict[str, Any]) -> PosterItem:
    return _item(
        raw,
        "storage_id",
        {
            "name": to_str(raw.get("storage_name"), 300),
            "address": to_str(raw.get("storage_adress"), 500),
        },
    )


def parse_ingredient(raw: dict[str, Any]) -> PosterItem:
    return _item(
        raw,
        "ingredient_id",
        {
            "name": to_str(raw.get("ingredient_name"), 300),
            "category_poster_id": to_int(raw.get("category_id")),
            "unit": to_str(raw.get("ingredient_unit"), 32),
            "left": to_decimal(raw.get("ingredient_left")),
            "ingredient_type": to_int(raw.get("ingredients_type")),
            "hidden": to_bool(raw.get("hidden", "0")),
        },
    )


def parse_ingredient_category(raw: dict[str, Any]) -> PosterItem:
    return _item(raw, "category_id", {"name": to_str(raw.get("name"), 300)})


def parse_category(raw: dict[str, Any]) -> PosterItem:
    parent = to_int(raw.get("parent_category"))
    return _item(
        raw,
        "category_id",
        {
            "name": to_str(raw.get("category_name"), 300),
            "parent_poster_id": parent or None,  # "0" is the root
            "hidden": to_bool(raw.get("category_hidden", "0")),
            "level": to_int(raw.get("level")),
            "sort_order": to_int(raw.get("sort_order")),
        },
    )


@dataclass(frozen=True)
class TokenGrant:
    access_token: str = field(repr=False)
    account_number: str
    raw_user: dict[str, Any] = field(default_factory=dict, repr=False)


def pacer(*, account_id: int, rate_per_second: float) -> Pacer:
    """The account's pace at Poster, evenly spaced across every process: a moving window lets five
    calls through at once and then makes the sixth wait most of a second, which is what a webhook's
    latency then shows (PERF-6)."""
    return Pacer(f"poster:{account_id}", rate_per_second)


class PosterClient:
    def __init__(
        self,
        *,
        base_url: str,
        token: str = "",
        before_request: Callable[[], None] | None = None,
        rate_retries: int = 3,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.http = http_client(SERVICE, base_url)
        self.before_request = before_request
        self._token = token
        self.rate_retries = rate_retries
        self.sleep = sleep

    def call(self, method: str, **params: Any) -> Any:
        """One API method; error 700 is retried here with backoff before it surfaces as transient."""
        attempt = 0
        while True:
            try:
                return self._call_once(method, params)
            except PosterRateLimited:
                if attempt >= self.rate_retries:
                    raise
                self.sleep(self.http.retry.delay(attempt))
                attempt += 1

    def _call_once(self, method: str, params: dict[str, Any]) -> Any:
        query = {**params, "token": self._token, "format": "json"}
        body = self.http.json("GET", method, params=query, before_request=self.before_request)
        if not isinstance(body, dict):
            raise PosterError("Poster sent a body that is not an object", service=SERVICE, permanent=False)
        error = body.get("error")
        if error is not None:
            raise _error(error)
        if "response" not in body:
            raise PosterError("Poster sent neither response nor error", service=SERVICE, permanent=False)
        return body["response"]

    def _list(self, method: str, parser: Callable[[dict[str, Any]], PosterItem], **params: Any) -> list[PosterItem]:
        response = self.call(method, **params)
        if not isinstance(response, list):
            raise PosterError(f"{method}: expected a list", service=SERVICE, permanent=False)
        return [parser(item) for item in response if isinstance(item, dict)]

    def suppliers(self) -> list[PosterItem]:
        return self._list("storage.getSuppliers", parse_supplier)

    def storages(self) -> list[PosterItem]:
        return self._list("storage.getStorages", parse_storage)

    def ingredients(self) -> list[PosterItem]:
        return self._list("menu.getIngredients", parse_ingredient)

    def ingredient(self, ingredient_id: int) -> PosterItem | None:
        response = self.call("menu.getIngredient", ingredient_id=ingredient_id)
        if isinstance(response, list):  # some versions wrap the item in a list
            response = response[0] if response else None
        if not isinstance(response, dict) or not response:
            return None
        return parse_ingredient(response)

    def ingredient_categories(self) -> list[PosterItem]:
        return self._list("menu.getCategoriesIngredients", parse_ingredient_category)

    def categories(self) -> list[PosterItem]:
        return self._list("menu.getCategories", parse_category)

    def exchange_code(
        self, *, application_id: str, application_secret: str, redirect_uri: str, code: str
    ) -> TokenGrant:
        """OAuth: the code for a token, as a form-data POST to ``{account api}/v2/auth/access_token``."""
        body, content_type = encode_multipart_formdata(
            {
                "application_id": application_id,
                "application_secret": application_secret,
                "grant_type": "authorization_code",
                "redirect_uri": redirect_uri,
                "code": code,
            }
        )
        # Not idempotent (a code is single-use): never repeated after a timeout.
        data = self.http.json(
            "POST",
            "v2/auth/access_token",
            data=body,
            headers={"Content-Type": content_type},
            ok_statuses=range(200, 500),
            max_retries=0,
        )
        if not isinstance(data, dict):
            raise PosterError("Poster's token answer is not an object", service=SERVICE, permanent=True)
        if data.get("error") is not None or not data.get("access_token"):
            error = data.get("error")
            raise (
                _error(error)
                if isinstance(error, dict)
                else PosterError("Poster refused the authorization code", service=SERVICE, permanent=True)
            )
        token = str(data["access_token"])
        number = str(data.get("account_number") or token.split(":", 1)[0])
        user = data.get("user") if isinstance(data.get("user"), dict) else {}
        return TokenGrant(access_token=token, account_number=number, raw_user=user or {})


def _error(error: Any) -> PosterError | PosterRateLimited:
    code = to_int(error.get("code")) if isinstance(error, dict) else None
    message = str(error.get("message", ""))[:300] if isinstance(error, dict) else str(error)[:300]
    if code == RATE_RESTRICTION:
        return PosterRateLimited(f"rate restriction (700): {message}", service=SERVICE, code="700")
    if code in TOKEN_ERRORS:
        return PosterTokenError(f"token error {code}: {message}", service=SERVICE, permanent=True, code=str(code))
    return PosterError(f"error {code}: {message}", service=SERVICE, permanent=True, code=str(code or ""))
