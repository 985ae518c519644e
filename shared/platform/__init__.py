"""What every process runs on: settings, logs, tokens and auth, production safety checks,
the Faust and HTTP service shells, the event topics' start-up check."""
