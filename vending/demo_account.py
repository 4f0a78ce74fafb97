"""The demo Vendista login, shared by the demo account (``vending.demo``) and the local Vendista
simulator (``sandbox.vendista`` imports it from here: production code never imports ``sandbox``).

A public fake credential that only the simulator accepts, not a secret.
"""

DEMO_LOGIN = "sandbox"
DEMO_PASSWORD = "sandbox-password"  # a public fake credential of the simulator
