"""Plots (matplotlib, Agg backend, written atomically)."""
