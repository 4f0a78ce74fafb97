"""One JSON error shape for the whole API (SPEC PLAT-8):

{"error": {"code": "validation_error", "message": "...", "fields": {"name": ["..."]}}}
"""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, HttpRequest, JsonResponse
from django.utils.translation import gettext
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from core.logging import untrusted

log = logging.getLogger("core.api")


def error_body(code: str, message: str, fields: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "fields": fields or {}}}


def _flatten(detail: Any) -> Any:
    if isinstance(detail, dict):
        return {key: _flatten(value) for key, value in detail.items()}
    if isinstance(detail, list):
        return [_flatten(item) for item in detail]
    return str(detail)


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(detail=exc.message_dict if hasattr(exc, "error_dict") else exc.messages)
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()

    response = drf_exception_handler(exc, context)
    if response is None:
        return None  # a real server error: Django's 500 handler logs it

    request = context.get("request")
    log.info(
        "API %s %s -> %s %s",
        getattr(request, "method", "?"),
        untrusted(getattr(request, "path", "?"), 200),
        response.status_code,
        type(exc).__name__,
    )
    if isinstance(exc, exceptions.ValidationError):
        detail = _flatten(exc.detail)
        if isinstance(detail, dict):
            non_field = detail.pop("non_field_errors", None)
            message = "; ".join(non_field) if non_field else gettext("Invalid input.")
            response.data = error_body("validation_error", message, detail)
        else:
            items = detail if isinstance(detail, list) else [detail]
            response.data = error_body("validation_error", "; ".join(map(str, items)) or gettext("Invalid input."))
        return response
    if isinstance(exc, exceptions.APIException):
        detail = exc.detail
        message = str(detail) if not isinstance(detail, (dict, list)) else gettext("Request failed.")
        code = exc.get_codes() if not isinstance(exc.get_codes(), (dict, list)) else exc.default_code
        response.data = error_body(str(code), message)
    return response


def json_error_response(request: HttpRequest, status_code: int, code: str, message: str) -> JsonResponse:
    return JsonResponse(error_body(code, message), status=status_code)


def wants_json(request: HttpRequest) -> bool:
    return request.path.startswith(("/api/", "/webhooks/", "/health/"))


def handler404(request: HttpRequest, exception: Exception | None = None) -> Any:
    if wants_json(request):
        return json_error_response(request, status.HTTP_404_NOT_FOUND, "not_found", gettext("Not found."))
    from django.views.defaults import page_not_found

    return page_not_found(request, exception or Http404())


def handler500(request: HttpRequest) -> Any:
    if wants_json(request):
        return json_error_response(request, 500, "server_error", gettext("Internal error; it has been logged."))
    from django.views.defaults import server_error

    return server_error(request)


def handler400(request: HttpRequest, exception: Exception | None = None) -> Any:
    if wants_json(request):
        return json_error_response(request, 400, "bad_request", gettext("Bad request."))
    from django.views.defaults import bad_request

    return bad_request(request, exception or Exception())
