"""Writes of the payments app, one module per concept: orders, payments (provider statuses), brew,
settlement, transitions (the state tables), webhooks, providers, tmetr_auth, accounts, catalog
(devices and drinks), buyer_limits."""
