"""Production operations behind the `egov` command: rebuild, snapshot and restore, catalogs."""
