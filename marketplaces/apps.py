from __future__ import annotations

from django.apps import AppConfig


class MarketplacesConfig(AppConfig):
    """Only Kaspi's migrations from before Kaspi became its own app (``marketplaces.kaspi``).

    The package holds the marketplace apps (``marketplaces.kaspi``, ``marketplaces.emag``). It stays
    an installed app with no models so its history keeps loading: other apps' migrations depend on
    ``("marketplaces", "0001_kaspi")``, databases record these migrations as applied, and its last
    migration hands the Kaspi models over to the ``kaspi`` app without touching a table. Nothing in
    the admin shows it, so its verbose name is Django's default.
    """

    name = "marketplaces"
