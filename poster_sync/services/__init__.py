"""Writes of poster_sync, by concern: accounts (OAuth), sync (entities, status), webhooks, alerts."""
