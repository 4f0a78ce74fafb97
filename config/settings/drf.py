"""Django REST framework and the OpenAPI schema (SPEC PLAT-8)."""

from __future__ import annotations

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "knox.auth.TokenAuthentication",  # expiring, revocable owner tokens (core.tokens)
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "core.api.pagination.DefaultPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "rest_framework.filters.OrderingFilter",
    ],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "core.api.errors.exception_handler",
    # JSON bodies through core.jsonsafe: too deep / too large is a 400 / 413, never a RecursionError 500.
    "DEFAULT_PARSER_CLASSES": [
        "core.jsonsafe.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
}

SPECTACULAR_SETTINGS = {
    "TITLE": "merchant-ops API",
    "DESCRIPTION": "Owner API of merchant-ops: every object is scoped to the caller's merchants.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # Several models have a "status" field; name their enums explicitly.
    "ENUM_NAME_OVERRIDES": {
        "SyncRunStatusEnum": "core.models.SyncRun.Status",
        "OrderStatusEnum": "payments.models.OrderStatus",
    },
}
