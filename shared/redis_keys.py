"""Redis key layout. Every key of an agency carries ``{agency}`` as a hash tag, so a Redis
Cluster keeps one agency's keys (and its apply script) on one slot."""

from __future__ import annotations


def entity(agency: str, entity_key: str) -> str:
    """Per-entity state: seen event ids (``e:<id>``) and first occurrence of each mark."""
    return f"ent:{{{agency}}}:{entity_key}"


def counters_prefix(agency: str) -> str:
    """Prefix of an agency's counter hashes: ``<prefix>D20240131``, ``M202401``, ``Y2024``."""
    return f"cnt:{{{agency}}}:"


def day_counters(agency: str, day: str) -> str:
    return f"{counters_prefix(agency)}D{day}"


def month_counters(agency: str, month: str) -> str:
    return f"{counters_prefix(agency)}M{month}"


def year_counters(agency: str, year: str) -> str:
    return f"{counters_prefix(agency)}Y{year}"


STATS_APPLIED = "stats:applied"
