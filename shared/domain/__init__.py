"""The domain: the +07:00 calendar and periods, scopes, agency and procedure catalogs,
counting rules, targets and indicators, with their packaged data (``data/``). No I/O beyond
reading that data."""
