"""Writes of the eMAG app, by concern: orders, offers, backups, monitoring, validation."""
