"""One read model (issue 11, item 4): the API's ``scope_values``, the calculator's coalesced
update and its business metrics give the same figures, value, target and verdict for the
same agency and period, and "not evaluated" gives no verdict Đạt/Chưa đạt anywhere.

The counters come from an in-memory stand-in of the store (the read model only sums marks
and unions sets through it); Redis itself is exercised by the integration tests.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from typing import cast

from prometheus_client import REGISTRY

from services.calculator import business_metrics
from services.calculator.updates import build_update
from shared.contract.indicator_update import IndicatorFigures, IndicatorUpdate
from shared.domain.calendar import LOCAL_TZ, now_utc
from shared.domain.catalog import load_agencies
from shared.domain.indicators import load_indicators
from shared.domain.periods import Period, PeriodKind
from shared.domain.procedures import Procedure, ProcedureCatalog
from shared.domain.scopes import parse_scope
from shared.domain.targets import Target, load_targets
from shared.readmodel.figures import Figure, Verdict, judge, total, value_of
from shared.readmodel.indicator_query import Verdict as QueryVerdict
from shared.readmodel.indicator_query import scope_values
from shared.readmodel.indicator_query import verdict as query_verdict
from shared.store.catalogs import Catalogs
from shared.store.indicator_store import IndicatorStore

# units of the merged province (valid this year: the metrics export the agencies valid in
# the current period)
EVALUATED = "H01.05"  # Sở Khoa học và Công nghệ: has a full_online procedure
NOT_EVALUATED = "H01.08"  # Thanh tra tỉnh: none, full_online_rate "Không đánh giá" (§5)

COUNTS = {
    # 10 of 40 full online: 25 % < 85 %, Chưa đạt
    EVALUATED: {"received": 40, "received_full_online_online": 10, "received_online": 30},
    # 67 in person: a raw 0 % that must never be judged
    NOT_EVALUATED: {"received": 67},
}


class MemoryStore:
    """The part of ``IndicatorStore`` the read model reads: fixed counts in every period."""

    async def sum_marks(
        self, agencies: Iterable[str], start: date, end: date, marks: Sequence[str]
    ) -> dict[str, dict[str, int]]:
        return {a: {m: COUNTS.get(a, {}).get(m, 0) for m in marks} for a in agencies}

    async def set_union(
        self, agencies: Iterable[str], start: date, end: date, name: str
    ) -> dict[str, set[str]]:
        return {a: set() for a in agencies}

    async def open_counts(
        self, agencies: Iterable[str], now: datetime, horizon_s: int = 86_400
    ) -> dict[str, tuple[int, int, int]]:
        return {a: (0, 0, 0) for a in agencies}


def proc(code: str, agency: str, level: str) -> Procedure:
    return Procedure(
        procedure_code=code,
        agency_code=agency,
        name=f"Thủ tục {code}",
        service_level=level,
        eligible_full_online=level != "in_person_only",
        fee_required=False,
    )


def catalogs() -> Catalogs:
    procedures = ProcedureCatalog(
        [
            proc("tttt-1", EVALUATED, "full_online"),
            proc("tttt-2", EVALUATED, "partial_online"),
            proc("tt-1", NOT_EVALUATED, "in_person_only"),
        ]
    )
    return Catalogs(1, load_agencies(), procedures)


def sample(name: str, scope: str, indicator: str, kind: str) -> float | None:
    labels = {"scope": scope, "indicator": indicator, "period": kind}
    return REGISTRY.get_sample_value(name, labels)


def test_update_metrics_and_api_agree_for_the_same_agency_and_period() -> None:
    store = cast(IndicatorStore, MemoryStore())
    cats = catalogs()
    targets = load_targets()
    indicators = load_indicators()
    today = now_utc().astimezone(LOCAL_TZ).date()
    year = Period(PeriodKind.year, date(today.year, 1, 1), today, str(today.year))

    async def scenario() -> None:
        await business_metrics.export(store, cats, targets, list(indicators.values()))
        for code in (EVALUATED, NOT_EVALUATED):
            scope = parse_scope(code, cats.agencies)
            api = await scope_values(
                store, cats, targets, list(indicators.values()), scope, year, None
            )
            update = await build_update(
                store, indicators, code, today.year, now_utc(), catalogs=cats, targets=targets
            )
            assert update.period == year.label
            for value in api:
                fig = update.indicators[value.indicator]
                assert (fig.numerator, fig.denominator) == (value.numerator, value.denominator)
                assert fig.value == value.value
                assert fig.evaluated is (value.value is not None)
                assert fig.target == value.target and fig.target_set == value.target_set
                assert fig.verdict == value.verdict
                args = (code, value.indicator, "year")
                assert sample("egov_indicator_numerator", *args) == value.numerator
                assert sample("egov_indicator_denominator", *args) == value.denominator
                assert sample("egov_indicator_value_percent", *args) == value.value
                meets = sample("egov_indicator_meets_target", *args)
                assert meets == (None if value.meets_target is None else float(value.meets_target))

    asyncio.run(scenario())

    async def one(code: str) -> IndicatorFigures:
        update = await build_update(
            store, indicators, code, today.year, now_utc(), catalogs=cats, targets=targets
        )
        return update.indicators["full_online_rate"]

    judged = asyncio.run(one(EVALUATED))
    assert (judged.value, judged.verdict, judged.target) == (25.0, Verdict.below, 85.0)
    thanh_tra = asyncio.run(one(NOT_EVALUATED))
    assert (thanh_tra.numerator, thanh_tra.denominator) == (0, 67)
    assert thanh_tra.value is None and thanh_tra.evaluated is False
    assert thanh_tra.verdict is Verdict.not_evaluated and thanh_tra.target == 85.0
    assert sample("egov_indicator_value_percent", NOT_EVALUATED, "full_online_rate", "year") is None
    assert sample("egov_indicator_meets_target", NOT_EVALUATED, "full_online_rate", "year") is None


def test_update_message_stays_backward_compatible() -> None:
    old = (
        '{"agency_code": "so-tttt", "period": "2026", "published_at": "2026-03-02T02:00:00Z",'
        ' "indicators": {"full_online_rate": {"numerator": 1, "denominator": 2, "value": 50.0}}}'
    )
    fig = IndicatorUpdate.model_validate_json(old).indicators["full_online_rate"]
    assert fig.evaluated is True and fig.target is None and fig.verdict is None
    new = IndicatorFigures(numerator=0, denominator=67, value=None, evaluated=False)
    assert IndicatorFigures.model_validate_json(new.model_dump_json()) == new


def test_verdict_moved_and_still_importable_from_indicator_query() -> None:
    assert QueryVerdict is Verdict and query_verdict(None, None) is None
    target = Target(
        target_set="s", indicator="full_online_rate", applies_to="all", period=2026,
        min_percent=85.0, source="x",
    )  # fmt: skip
    assert query_verdict(None, target) is Verdict.not_evaluated
    assert query_verdict(85.0, target) is Verdict.meets
    assert query_verdict(84.99, target) is Verdict.below
    # not evaluated: the indicator does not apply, or the denominator is empty
    na = judge("full_online_rate", "thanh-tra-tinh", Figure(0, 67, evaluated=False), target)
    empty = judge("full_online_rate", "so-y-te", Figure(0, 0), target)
    for reading in (na, empty):
        assert reading.value is None and not reading.evaluated and not reading.judged
        assert reading.verdict is Verdict.not_evaluated and reading.meets_target is None
    assert value_of(Figure(1, 4)) == 25.0


def test_aggregate_sums_every_member_and_is_evaluated_when_one_member_is() -> None:
    mixed = total([Figure(10, 40), Figure(0, 67, evaluated=False)])
    assert mixed == Figure(10, 107, evaluated=True)  # the appendix's province row sums all
    assert total([Figure(0, 67, evaluated=False)]).evaluated is False
