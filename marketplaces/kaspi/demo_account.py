"""The demo Kaspi store's sandbox login, shared by the demo store (``marketplaces.kaspi.demo``) and the
local Kaspi simulator (``sandbox.kaspi`` imports it from here: production code never imports ``sandbox``).

Public fake credentials that only the simulator accepts, not secrets.
"""

SANDBOX_EMAIL = "demo@sandbox.kaspi.kz"
SANDBOX_PASSWORD = "sandbox-password"  # a public fake credential of the simulator
SANDBOX_MERCHANT_UID = "30100001"
SANDBOX_SHOP_TOKEN = "sandbox-shop-api-token"  # a public fake credential of the simulator
