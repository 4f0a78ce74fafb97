"""Writes of the payments app, one module per concept (orders, payments, brew, settlement)."""
