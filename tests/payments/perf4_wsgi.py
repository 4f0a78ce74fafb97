"""For the PERF-4 benchmark: the project's WSGI app (config.wsgi, started as production starts it) plus
one bare Django JSON view (the baseline of the throughput ratio), served by gunicorn as
``tests.payments.perf4_wsgi:application``. Never imported by the test suite itself (it changes
ROOT_URLCONF)."""

from __future__ import annotations

import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")
django.setup()

from django.conf import settings  # noqa: E402
from django.http import HttpRequest, JsonResponse  # noqa: E402
from django.urls import include, path  # noqa: E402
from django.views.decorators.csrf import csrf_exempt  # noqa: E402


@csrf_exempt
def bare(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"ok": True})


urlpatterns = [path("bench/bare/", bare), path("", include("config.urls"))]
settings.ROOT_URLCONF = __name__
from config.wsgi import application  # noqa: E402,F401  (the production WSGI start-up, as bin/start web)
