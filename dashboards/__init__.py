"""Grafana dashboards as code (grafana-foundation-sdk), built into grafana/dashboards/."""
