"""The XML price list Kaspi polls, at a secret per-store URL (no login: the token is the secret)."""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse
from django.views.decorators.http import require_GET

from .feed import feed_render
from .models import StoreRepricing


@require_GET
def kaspi_price_list(request: HttpRequest, token: str) -> HttpResponse:
    switches = StoreRepricing.objects.select_related("store").filter(feed_token=token).first()
    if switches is None or not switches.store.is_active:
        raise Http404("unknown price list")
    response = HttpResponse(feed_render(store=switches.store), content_type="application/xml; charset=utf-8")
    response["Cache-Control"] = "no-store"
    return response
