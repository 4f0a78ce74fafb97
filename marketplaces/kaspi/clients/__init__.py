"""Kaspi's external services: the cabinet (browser login + HTTP), the Shop API and the public offers.

No Django models here: typed methods, dataclasses and typed errors only.
"""
