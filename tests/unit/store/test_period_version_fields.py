"""Which period versions a bucket write raises, and which a read of a period keys on: the
two must meet on every bucket (``shared/store/keys.py``)."""

from __future__ import annotations

from datetime import date, timedelta

from hypothesis import given
from hypothesis import strategies as st

from shared.domain.periods import decompose
from shared.store.keys import bucket_version_field, counters_prefix, period_version_fields


def test_bucket_fields() -> None:
    prefix = counters_prefix("so-tttt", "ks3:")
    assert bucket_version_field(prefix + "D20261203") == "202612"
    assert bucket_version_field(prefix + "M202612") == "202612"
    assert bucket_version_field(prefix + "Y2026") == "2026"
    assert bucket_version_field("set:{so-tttt}:proc_paid_online:M202611") == "202611"
    for other in ("open:{so-tttt}", "o766:{so-tttt}:d:202611", "pub:{so-tttt}", "x:D2026"):
        assert bucket_version_field(other) is None


def test_read_fields() -> None:
    assert period_version_fields(date(2024, 1, 1), date(2024, 12, 31)) == ["all", "2024"]
    assert period_version_fields(date(2024, 3, 1), date(2024, 3, 31)) == ["all", "202403"]
    assert period_version_fields(date(2024, 2, 27), date(2024, 4, 30)) == [
        "all",
        "202403",
        "202404",
        "202402",
    ]


@given(
    st.dates(min_value=date(2015, 1, 1), max_value=date(2030, 12, 31)),
    st.integers(min_value=0, max_value=800),
)
def test_every_bucket_a_read_sums_is_keyed(start: date, days: int) -> None:
    end = start + timedelta(days=days)
    buckets = decompose(start, end)
    keys = [f"cnt:{{a}}:Y{y}" for y in buckets.years]
    keys += [f"cnt:{{a}}:M{y:04d}{m:02d}" for y, m in buckets.months]
    keys += [f"cnt:{{a}}:D{d:%Y%m%d}" for d in buckets.days]
    read = set(period_version_fields(start, end))
    assert {bucket_version_field(k) for k in keys} <= read
    # and a write to a bucket outside the period is not keyed unless it shares its month
    outside = end + timedelta(days=40)
    if f"{outside:%Y%m}" not in read:
        assert bucket_version_field(f"cnt:{{a}}:D{outside:%Y%m%d}") not in read
