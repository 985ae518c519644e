"""Code shared by every egov-monitor service: contract, catalogs, indicators, settings."""
