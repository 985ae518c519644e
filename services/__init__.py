"""The four egov-monitor services: ingest, calculator, alerts, api."""
