"""The demo eMAG account's sandbox login, shared by the demo account (``marketplaces.emag.demo``) and the
local eMAG simulator (``sandbox.emag`` imports it from here: production code never imports ``sandbox``).
"""

SANDBOX_USER = "sandbox-emag"
SANDBOX_PASSWORD = "sandbox-emag-password"  # a public fake credential of the simulator, not a secret
