"""The simulated year matches the published appendix by construction (pure, no broker)."""

from __future__ import annotations

import itertools
from collections import Counter

from shared.catalog import load_agencies
from shared.events import ServiceLevel
from shared.validation import validate_event
from simulator.appendix2024 import BOUNDARY_AGENCY, YearStream, agency_rows, dossier_categories


def test_dossier_categories_reproduce_every_row() -> None:
    overlaps = {}
    for row in agency_rows():
        dossiers = dossier_categories(row)
        assert len(dossiers) == row.hstn_total, row.agency_code
        per_category = Counter(cat for cats in dossiers for cat in cats)
        assert dict(per_category) == {k: v for k, v in row.category_counts.items() if v}
        assert all(len(set(cats)) == len(cats) for cats in dossiers)
        overlaps[row.agency_code] = sum(len(c) - 1 for c in dossiers)
    assert overlaps["ubnd-long-xuyen"] == 20
    assert overlaps["ubnd-cho-moi"] == 56
    assert sum(overlaps.values()) == 303


def test_catalog_has_the_published_tthc_counts() -> None:
    catalog = YearStream().catalog()
    assert len(catalog) == 8011
    for row in agency_rows():
        levels = catalog.level_counts(row.agency_code)
        assert levels[ServiceLevel.in_person_only] == row.in_person_only_tthc
        assert levels[ServiceLevel.partial_online] == row.partial_tthc
        assert levels[ServiceLevel.full_online] == row.full_tthc


def test_events_are_valid_deterministic_and_cover_the_year_edges() -> None:
    agencies = load_agencies().codes
    first = list(itertools.islice(YearStream(lifecycle_fraction=1.0).events(), 3000))
    again = list(itertools.islice(YearStream(lifecycle_fraction=1.0).events(), 3000))
    assert first == again
    assert all(not isinstance(validate_event(e, agencies=agencies), list) for e in first)
    assert len({e["event_id"] for e in first}) == len(first)
    kinds = Counter(e["event_type"] for e in first)
    assert kinds["received"] and kinds["resolved"] and kinds["returned"]
    assert first[0]["occurred_at"] == "2024-01-01T00:00:00+07:00"
    assert first[0]["agency_code"] == BOUNDARY_AGENCY
