"""Settings of the marketplaces app, Kaspi part (read from the environment; names documented in README)."""

from __future__ import annotations

from .env import env

# Base URLs (SPEC PLAT-3); `make run` points them at sandbox/kaspi.py.
KASPI_SHOP_API_URL = env("KASPI_SHOP_API_URL", default="https://kaspi.kz/shop/api/v2")
KASPI_OFFERS_URL = env("KASPI_OFFERS_URL", default="https://kaspi.kz/yml/offer-view/offers")
KASPI_CABINET_URL = env("KASPI_CABINET_URL", default="https://mc.shop.kaspi.kz")
KASPI_LOGIN_URL = env("KASPI_LOGIN_URL", default="https://idmc.shop.kaspi.kz/login")
# The browser for the cabinet login; blank = look for chromium on PATH. Without one, stores say so.
CHROMIUM_EXECUTABLE = env("CHROMIUM_EXECUTABLE", default="")

# Seconds the browser may spend on one login (each page step is bounded by it as well).
KASPI_LOGIN_TIMEOUT_SECONDS = env.float("KASPI_LOGIN_TIMEOUT_SECONDS", default=60.0)
# A login page that has loaded and still shows no e-mail field after this many seconds is a page
# Kaspi changed: the store says "needs re-login" then, not after the whole timeout.
KASPI_LOGIN_FIELD_SECONDS = env.float("KASPI_LOGIN_FIELD_SECONDS", default=5.0)
# Cabinet calls per second per merchant (Kaspi reportedly bans a merchant for ~30 min on a 429).
KASPI_CABINET_RATE_PER_SECOND = env.float("KASPI_CABINET_RATE_PER_SECOND", default=2.0)
# Shop API calls per second per store.
KASPI_SHOP_API_RATE_PER_SECOND = env.float("KASPI_SHOP_API_RATE_PER_SECOND", default=5.0)
# Offers per page of the cabinet offer list, and orders per Shop API page (Kaspi allows up to 100).
KASPI_OFFERS_PAGE_SIZE = env.int("KASPI_OFFERS_PAGE_SIZE", default=100)
KASPI_ORDERS_PAGE_SIZE = env.int("KASPI_ORDERS_PAGE_SIZE", default=100)
# Shop API order windows are at most 14 days long; a longer range is split.
KASPI_ORDERS_WINDOW_DAYS = env.int("KASPI_ORDERS_WINDOW_DAYS", default=14)
# The first order sync of a store reads this many days back; later ones start at the last synced
# instant minus the overlap (orders change state after creation).
KASPI_ORDERS_INITIAL_DAYS = env.int("KASPI_ORDERS_INITIAL_DAYS", default=14)
KASPI_ORDERS_OVERLAP_DAYS = env.int("KASPI_ORDERS_OVERLAP_DAYS", default=3)
KASPI_ORDER_STATES = env.list(
    "KASPI_ORDER_STATES", default=["NEW", "SIGN_REQUIRED", "PICKUP", "DELIVERY", "KASPI_DELIVERY", "ARCHIVE"]
)
# A worker waits this long for another worker's login of the same store before giving up.
KASPI_LOGIN_LOCK_SECONDS = env.int("KASPI_LOGIN_LOCK_SECONDS", default=180)
