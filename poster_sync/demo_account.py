"""The demo Poster account of the sandbox, shared by the demo account (``poster_sync.demo``) and the
local Poster simulator (``sandbox.poster`` imports it from here: production code never imports ``sandbox``).
"""

SANDBOX_ACCOUNT = "sandbox-coffee"
SANDBOX_ACCOUNT_NUMBER = "100001"
# A public fake credential of the simulator (like Vendista's sandbox password), not a secret.
SANDBOX_TOKEN = "100001:sandbox-personal-integration-token"
