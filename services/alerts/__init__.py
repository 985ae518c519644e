"""Alerts: evaluates the calculator's indicator updates against the targets in force."""
