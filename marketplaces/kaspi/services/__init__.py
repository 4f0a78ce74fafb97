"""Writes of the Kaspi module, by concern: stores, session, products, orders, preorders."""
