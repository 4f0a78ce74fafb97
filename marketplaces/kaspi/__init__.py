"""Kaspi.kz: stores, the cabinet session (a real browser login), products, orders, preorders (SPEC MKT-1, MKT-7).

Self-contained: nothing here imports the eMAG module and nothing there imports this one.
"""
