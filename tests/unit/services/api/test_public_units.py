"""The public page of the merged province (issue 18 item 4), rendered without a server from
figures made here: the 117 units of An Giang (``agencies-an-giang.csv``, loaded
explicitly) in two groups with a switch, a search and four orders that work without
JavaScript; "Chưa đủ số liệu" under ``EGOV_PUBLIC_MIN_DENOMINATOR`` dossiers; the territory
marker on trends that cross 07/2025; each target with its document and "chuyển tiếp từ
2025" in 2026."""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import Callable
from datetime import date
from importlib import resources

import pytest

from services.api.context import ApiContext
from services.api.public.results import (
    PageFigures,
    PublicResults,
    ResultsCache,
    build_results,
    month_period,
    name_key,
    page_reads,
    previous_month,
    trend_months,
)
from services.api.public.sparkline import TrendPoint, sparkline
from services.api.public.view import MAX_QUERY, PageView
from services.api.routes.public import _csv, _html
from shared.domain.catalog import Agency, AgencyGroup, parse_agencies_csv
from shared.domain.periods import Period, PeriodKind
from shared.domain.procedures import ProcedureCatalog
from shared.platform.config import Settings
from shared.readmodel.display import ShownVerdict, fold, shown_verdict
from shared.readmodel.figures import Figure, Verdict, scope_figure
from shared.store.catalogs import Catalogs
from tests.htmltree import Node, parse

CATALOG = parse_agencies_csv(
    resources.files("shared.domain.data").joinpath("agencies-an-giang.csv").read_text("utf-8")
)
CATALOGS = Catalogs(1, CATALOG, ProcedureCatalog([]))
TINY = "H01.187"  # xã Đông Thái: one dossier, fully online
SMALL_BELOW = "H01.188"  # xã An Minh: 8 of 20
NOV_2026 = month_period(2026, 11)
SEP_2025 = month_period(2025, 9)

Figures = Callable[[Agency, Period], Figure]


def figures(agency: Agency, period: Period) -> Figure:
    """Every unit a month's dossiers: departments 150 (80 % full online: below 85), communes
    50 (about 78 %: above 70; those whose code ends in 5, 60 %), the island-like ones 1 of 1
    and 8 of 20; the People's Committee office has no dossier. A little drift by month, so
    trends move."""
    drift = period.start.month % 3
    if agency.agency_code == TINY:
        return Figure(1, 1)
    if agency.agency_code == SMALL_BELOW:
        return Figure(8, 20)
    if agency.agency_code == "vp-ubnd-tinh":
        return Figure(0, 0)
    if agency.group is AgencyGroup.so_nganh:
        return Figure(120 + drift, 150)
    if agency.agency_code.endswith("5"):
        return Figure(30 + drift, 50)
    return Figure(39 - drift + len(agency.agency_code) % 3, 50)


def context(min_denominator: int = 30) -> ApiContext:
    return ApiContext.create(
        Settings(public_min_denominator=min_denominator, catalog_log_enabled=False)
    )


def page(month: Period, ctx: ApiContext, of: Figures = figures) -> PageFigures:
    """The figures a page of ``month`` reads, as ``read_page`` would get them from Redis."""
    indicator = ctx.indicators["full_online_rate"]
    out = {}
    for period, scopes, wanted in page_reads(ctx, CATALOGS, month, indicator):
        codes = {c for s in scopes for c in s.codes}
        per_agency = {
            code: {i.indicator: of(CATALOG.agencies[code], period) for i in wanted}
            for code in codes
        }
        out[period.label] = (
            scopes,
            {
                s.id: {i.indicator: scope_figure(per_agency, i.indicator, s) for i in wanted}
                for s in scopes
            },
        )
    return PageFigures(
        month,
        previous_month(month),
        trend_months(month),
        CATALOG.valid_between(month.start, month.end),
        indicator,
        list(ctx.indicators.values()),
        out,
    )


def results(month: Period = NOV_2026, min_denominator: int = 30) -> PublicResults:
    ctx = context(min_denominator)
    return build_results(ctx, page(month, ctx))


def html(month: Period = NOV_2026, view: PageView | None = None, **kw: int) -> Node:
    return parse(_html(results(month, **kw), embed=False, view=view))


def unit_rows(doc: Node) -> dict[str, Node]:
    return {tr.attrs["data-unit"]: tr for tr in doc.find_all("tr", data_unit=True)}


def badge(row: Node) -> str:
    """The verdict a row shows (its badge's word)."""
    return next(n.attrs["data-verdict"] for n in row.iter() if "badge" in n.attrs.get("class", ""))


# -- two groups, 117 units --------------------------------------------------------------


def test_the_117_unit_page_has_both_groups_and_the_switch() -> None:
    doc = html()
    sections = {s.attrs["data-group-section"]: s for s in doc.find_all(data_group_section=True)}
    assert set(sections) == {"so_nganh", "dia_phuong"}
    assert not any(s.hidden for s in sections.values())  # both shown by default
    provincial = {
        tr.attrs["data-unit"] for tr in sections["so_nganh"].find_all("tr", data_unit=True)
    }
    local = {tr.attrs["data-unit"] for tr in sections["dia_phuong"].find_all("tr", data_unit=True)}
    assert len(local) == 102 and all(c.startswith("H01.") for c in local)
    assert len(provincial - {"vp-ubnd-tinh"}) == 15 and "vp-ubnd-tinh" in provincial
    assert len(provincial | local) == 118  # the 117 portal units and the committee's office
    # nothing of 2024 in November 2026
    text = doc.text
    assert "Sở Thông tin và Truyền thông" not in text and "cấp huyện" not in text
    assert "Cấp xã" in sections["dia_phuong"].find("h3").text
    switch = doc.find("nav", data_group_switch=True)
    links = {a.attrs["data-group"]: a for a in switch.find_all("a")}
    assert set(links) == {"", "so_nganh", "dia_phuong"}
    assert links[""].attrs.get("aria-current") == "true"
    assert "group=dia_phuong" in links["dia_phuong"].attrs["href"]
    assert "Cấp xã" in links["dia_phuong"].text and "102" in links["dia_phuong"].text
    assert "Sở, ban, ngành" in links["so_nganh"].text and "16" in links["so_nganh"].text
    # the search form works without a script: a GET of this page
    form = doc.find("form", data_units_form=True)
    assert form.attrs["method"] == "get" and form.find("input", name="q")
    assert {o.attrs["value"] for o in form.find("select", name="sort").find_all("option")} == {
        "value",
        "name",
        "verdict",
        "change",
    }


def test_the_group_switch_shows_one_group() -> None:
    doc = html(view=PageView.parse("dia_phuong", None, None))
    sections = {s.attrs["data-group-section"]: s for s in doc.find_all(data_group_section=True)}
    assert sections["so_nganh"].hidden and not sections["dia_phuong"].hidden
    current = doc.find("nav", data_group_switch=True).find("a", aria_current="true")
    assert current.attrs["data-group"] == "dia_phuong"
    assert "Đang hiện 102 / 118 đơn vị" in doc.find("p", data_units_count=True).text
    # the month picker keeps the view
    picker = doc.find("form", **{"class": "picker"})
    assert picker.find("input", name="group").attrs["value"] == "dia_phuong"


@pytest.mark.parametrize("typed", ["dong thai", "Đông Thái", "  ĐÔNG   thái ", "h01.187"])
def test_search_by_name_or_code_without_javascript(typed: str) -> None:
    doc = html(view=PageView.parse(None, None, typed))
    visible = [code for code, tr in unit_rows(doc).items() if not tr.hidden]
    assert visible == [TINY]
    assert "Đang hiện 1 / 118 đơn vị" in doc.find("p", data_units_count=True).text
    # the group with no match says so; the one with the match does not
    empties = {
        s.attrs["data-group-section"]: s.find("p", data_units_empty=True).hidden
        for s in doc.find_all(data_group_section=True)
    }
    assert empties == {"so_nganh": False, "dia_phuong": True}
    # every row carries the folded name and code the script matches
    assert unit_rows(doc)[TINY].attrs["data-search"] == "ubnd xa dong thai h01.187"


def test_orders_are_the_servers_with_and_without_javascript() -> None:
    r = results()
    local = next(g for g in r.groups if g.group == "dia_phuong")
    for sort in ("value", "name", "verdict", "change"):
        doc = html(view=PageView.parse(None, sort, None))
        section = doc.find(data_group_section="dia_phuong")
        order = [tr.attrs["data-unit"] for tr in section.find_all("tr", data_unit=True)]
        assert order == [row.scope for row in local.ordered(sort)]
        # the positions the script sorts by give the same order
        positions = {
            tr.attrs["data-unit"]: int(tr.attrs[f"data-order-{sort}"])
            for tr in section.find_all("tr", data_unit=True)
        }
        assert sorted(positions, key=positions.__getitem__) == order
    names = [name_key(row.name) for row in local.ordered("name")]
    assert names == sorted(names) and names[0].startswith("an ")  # "UBND xã An …" by "An …"
    values = [row.value.value for row in local.ordered("value")]
    assert values == sorted(values, key=lambda v: -(v or 0.0))
    verdicts = [row.verdict for row in local.ordered("verdict")]
    assert verdicts[0] is ShownVerdict.below and verdicts[-1] is ShownVerdict.too_few


def test_views_fall_back_to_the_default() -> None:
    assert PageView.parse("nope", "nope", None) == PageView()
    assert PageView.parse("so_nganh", "name", "x" * 500).q == "x" * MAX_QUERY
    assert PageView.parse(None, None, "  a   b ").q == "a b"
    assert PageView.parse(None, "value", "").params() == {}
    assert PageView.parse("dia_phuong", "name", "an").params() == {
        "group": "dia_phuong",
        "sort": "name",
        "q": "an",
    }


# -- small denominators ----------------------------------------------------------------------


def test_a_unit_with_one_dossier_has_no_verdict_but_its_figure() -> None:
    doc = html()
    tiny = unit_rows(doc)[TINY]
    assert badge(tiny) == "Chưa đủ số liệu"
    value = tiny.find("span", data_figure="value")
    assert value.text == "100,00%" and value.attrs["data-denominator"] == "1"
    assert value.attrs["data-verdict"] == "Đạt"  # the API's verdict, unchanged
    small = unit_rows(doc)[SMALL_BELOW]  # 8 of 20: not "Chưa đạt" either
    assert badge(small) == "Chưa đủ số liệu"
    assert badge(unit_rows(doc)["H01.101"]) == "Đạt"  # 50 dossiers: judged
    assert badge(unit_rows(doc)["H01.01"]) == "Chưa đạt"
    section = doc.find(data_group_section="dia_phuong")
    assert "Chưa đủ số liệu: 2" in section.find("ul", **{"class": "chips"}).text


def test_the_threshold_is_the_setting() -> None:
    rows = unit_rows(html(min_denominator=0))
    assert badge(rows[TINY]) == "Đạt" and badge(rows[SMALL_BELOW]) == "Chưa đạt"
    rows = unit_rows(html(min_denominator=151))  # above every unit's dossiers
    assert badge(rows["H01.01"]) == "Chưa đủ số liệu"
    assert Settings().public_min_denominator == 30
    with pytest.raises(ValueError):
        Settings(public_min_denominator=-1)


def test_shown_verdict_rules() -> None:
    assert shown_verdict(Verdict.meets, 1, True, 30) is ShownVerdict.too_few
    assert shown_verdict(Verdict.below, 29, True, 30) is ShownVerdict.too_few
    assert shown_verdict(Verdict.below, 30, True, 30) is ShownVerdict.below
    assert shown_verdict(Verdict.meets, 5, False, 30) is ShownVerdict.meets  # procedure counts
    assert shown_verdict(Verdict.not_evaluated, 0, True, 30) is ShownVerdict.not_evaluated
    assert shown_verdict(None, 3, True, 30) is None
    assert fold("UBND đặc khu Thổ Châu") == "ubnd dac khu tho chau"


def test_the_csv_says_chua_du_so_lieu() -> None:
    text = _csv(results()).decode("utf-8-sig")
    rows = {r[3]: r for r in csv.reader(io.StringIO(text)) if len(r) > 3}
    assert rows[TINY][9] == "Chưa đủ số liệu" and rows[TINY][7] == "100.00"
    assert rows["province"][9] in ("Đạt", "Chưa đạt")
    assert rows["province"][13] == "2025"  # the NQ 188 target, carried over


# -- targets: documents, carried over --------------------------------------------------------


def test_targets_name_their_document_and_say_carried_over_in_2026() -> None:
    doc = html()
    notes = {li.attrs["data-target-set"]: li for li in doc.find_all("li", data_target_set=True)}
    assert {"nq188-2025", "kh-1205-2025"} <= set(notes)
    assert "Nghị quyết 188/NQ-CP" in notes["nq188-2025"].text
    assert "chuyển tiếp từ 2025" in notes["nq188-2025"].text
    assert notes["nq188-2025"].attrs["data-carried-from"] == "2025"
    # the province's full-online figure is judged on NQ 188's 70 %, carried over
    overview = doc.find("table", **{"class": "stack overview"})
    province = next(
        s
        for s in overview.find_all("span", data_figure="value")
        if s.attrs["data-scope"] == "province" and s.attrs["data-indicator"] == "full_online_rate"
    )
    assert province.attrs["data-target"] == "70.0"
    cell = province.parent
    while cell is not None and cell.tag != "td":
        cell = cell.parent
    assert cell is not None and "chuyển tiếp từ 2025" in cell.text
    # every unit's target too, with the number of its note
    tiny = unit_rows(doc)[TINY]
    carried = tiny.find("span", **{"class": "carried"})
    assert carried.text == "chuyển tiếp từ 2025"
    fn = tiny.find("a", **{"class": "fn"})
    number = fn.attrs["href"].removeprefix("#chi-tieu-")
    assert doc.find("li", id=f"chi-tieu-{number}").attrs["data-target-set"] == "kh-1205-2025"


def test_targets_of_their_own_year_are_not_carried_over() -> None:
    doc = html(SEP_2025)
    # in 2025 the 2025 targets are the year's own; only older ones still in force (the
    # 2023 Quyết định 88 targets) are carried over
    carried = {s.attrs["data-carried-from"] for s in doc.find_all("span", **{"class": "carried"})}
    assert carried == {"2023"}
    assert not unit_rows(doc)["H01.101"].find_all("span", **{"class": "carried"})
    notes = {li.attrs["data-target-set"]: li for li in doc.find_all("li", data_target_set=True)}
    assert "chuyển tiếp" not in notes["nq188-2025"].text
    assert "chuyển tiếp từ 2023" in notes["qd88-2023"].text


# -- the territory changed -------------------------------------------------------------------


def test_trends_that_cross_july_2025_mark_the_change_of_territory() -> None:
    doc = html(SEP_2025)  # trend 10/2024 – 09/2025
    note = doc.find("p", **{"class": "territory-note"})
    assert "Địa giới thay đổi từ 07/2025" in note.text
    trends = doc.find_all("span", data_figure="trend")
    assert trends and all(t.attrs["data-territory-change"] == "2025-07" for t in trends)
    for t in trends:
        svg = t.find("svg")
        assert svg.find_all("line", **{"class": "spark-territory"}), t.attrs["data-scope"]
        assert "Địa giới thay đổi từ 07/2025" in svg.attrs["aria-label"]
    # the 2025 page still says which groups it had: localities were districts then
    assert "Cấp xã" in doc.find(data_group_section="dia_phuong").find("h3").text
    later = html()  # trend 12/2025 – 11/2026: no crossing, no marker
    assert not later.find_all("p", **{"class": "territory-note"})
    assert not later.find_all("line", **{"class": "spark-territory"})


def test_sparkline_marker_stands_at_the_month() -> None:
    points = [TrendPoint(f"2025-{m:02d}", 50.0 + m) for m in range(1, 13)]
    svg = sparkline(points, 70.0, territory="2025-07")
    line = parse(svg).find("line", **{"class": "spark-territory"})
    step = (132 - 8) / 11
    assert float(line.attrs["x1"]) == pytest.approx(4 + 6 * step, abs=0.1)
    assert "từ 07/2025" in parse(svg).find("text", **{"class": "spark-territory-label"}).text
    # the first point, or a month outside the trend, is no crossing
    assert "spark-territory" not in sparkline(points[6:], territory="2025-07")
    assert "spark-territory" not in sparkline(points, territory="2026-07")


# -- one read for every view ------------------------------------------------------------------


def test_results_are_computed_once_for_every_view() -> None:
    cache = ResultsCache()
    calls = {"fingerprint": 0, "compute": 0}
    made = results()

    async def fingerprint() -> bytes:
        calls["fingerprint"] += 1
        return b"same"

    async def compute() -> PublicResults:
        calls["compute"] += 1
        await asyncio.sleep(0.01)
        return made

    async def go() -> None:
        got = await asyncio.gather(
            *(cache.get("k1", "page", fingerprint, compute) for _ in range(5))
        )
        assert all(g is made for g in got)
        # new data versions, the same buckets: no read, no build
        assert await cache.get("k2", "page", fingerprint, compute) is made

    asyncio.run(go())
    assert calls["compute"] == 1


def test_the_2025_spring_page_keeps_the_old_label() -> None:
    doc = html(month_period(2025, 3))
    assert "Địa phương (cấp huyện)" in doc.find(data_group_section="dia_phuong").find("h3").text
    assert date(2025, 3, 31) < date(2025, 7, 1)


# -- the board's units ----------------------------------------------------------------------


def test_board_units_orders_and_the_year_across_the_territory_change() -> None:
    from services.api.board.view import UNIT_SORTS, UnitGroup, UnitRow, year_territory

    ind = context().indicators["full_online_rate"]

    def unit(code: str, name: str, num: int, den: int, overdue: int) -> UnitRow:
        value = results().province.value.model_copy(
            update={"scope": code, "numerator": num, "denominator": den, "value": 100 * num / den}
        )
        verdict = shown_verdict(value.verdict, den, ind.source == "dossier", 30)
        return UnitRow(code, name, value, verdict, overdue + 1, overdue)

    rows = [
        unit("H01.187", "UBND xã Đông Thái", 1, 1, 0),
        unit("H01.101", "UBND phường Long Xuyên", 40, 50, 3),
        unit("H01.104", "UBND xã Mỹ Hòa Hưng", 45, 50, 9),
    ]
    group = UnitGroup("dia_phuong", "Cấp xã", rows)
    order = {s: sorted(group.positions[s], key=group.positions[s].__getitem__) for s in UNIT_SORTS}
    assert order["value"] == ["H01.187", "H01.104", "H01.101"]
    assert order["name"] == ["H01.187", "H01.101", "H01.104"]  # Đông Thái, Long Xuyên, Mỹ…
    assert order["overdue"] == ["H01.104", "H01.101", "H01.187"]
    assert rows[0].verdict is ShownVerdict.too_few and group.count(ShownVerdict.too_few) == 1
    assert rows[0].search == "ubnd xa dong thai h01.187"

    def year(y: int) -> Period:
        return Period(PeriodKind.year, date(y, 1, 1), date(y, 12, 31), str(y))

    assert year_territory(year(2025)) == "2025-07" and year_territory(year(2026)) is None
