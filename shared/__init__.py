"""Code every egov-monitor service shares, in five rooms:

- ``contract``: the events (one declaration), their schemas, decoding and Kafka keys;
- ``domain``: the calendar (+07:00), periods, scopes, catalogs, counting, targets, indicators;
- ``readmodel``: counters → figures, values, verdicts (what services read);
- ``store``: Redis keys, client, the apply script, catalogs, snapshots, replays;
- ``platform``: settings, logs, auth, the Faust and HTTP service shells, topic checks.
"""
