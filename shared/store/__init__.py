"""Redis: the key layout, the one client, the idempotent apply script (``lua/``), the
catalogs kept in Redis and their log on Kafka, snapshots and replays of the event log."""
