"""Demo data for `make run`: one merchant, an admin who owns it, and each app's demo hook.

Apps add their own demo objects by defining ``demo_setup(*, merchant)`` in ``<app>/demo.py``
returning a list of lines to print (where to click).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field

from django.apps import apps

from .models import Membership, Merchant, User

DEMO_MERCHANT_SLUG = "demo-coffee"


@dataclass
class DemoResult:
    merchant: Merchant
    token_hint: str
    links: list[str] = field(default_factory=list)


def demo_setup(*, admin_username: str, admin_password: str) -> DemoResult:
    merchant, _ = Merchant.objects.get_or_create(slug=DEMO_MERCHANT_SLUG, defaults={"name": "Demo Coffee (sandbox)"})
    user, _ = User.objects.get_or_create(username=admin_username, defaults={"is_staff": True, "is_superuser": True})
    user.is_staff = user.is_superuser = True
    user.set_password(admin_password)  # a fresh password each run, printed once
    user.save()
    Membership.objects.get_or_create(user=user, merchant=merchant, defaults={"role": Membership.Role.OWNER})
    result = DemoResult(merchant=merchant, token_hint="POST /api/v1/auth/token/ with the admin login")
    for config in apps.get_app_configs():
        if config.name == "core":
            continue
        try:
            module = importlib.import_module(f"{config.name}.demo")
        except ModuleNotFoundError as exc:
            if exc.name != f"{config.name}.demo":
                raise
            continue
        hook = getattr(module, "demo_setup", None)
        if hook is not None:
            result.links.extend(hook(merchant=merchant) or [])
    return result
