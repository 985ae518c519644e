"""Agencies and procedures in time (domain §4a.6): validation on the event's local date,
scopes and tables of a period, predecessors, parents in force, catalog file checks."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

import devstack.cli  # noqa: F401  (adds the local stack's commands)
from services.api.reports.annual_table import _validity_note
from services.ops.cli import app as egov_cli
from shared.contract.events import ServiceLevel
from shared.contract.validation import validate_event
from shared.domain.catalog import Agency, AgencyCatalog, load_agencies, parse_agencies_csv
from shared.domain.exceptions import CatalogFileError
from shared.domain.periods import parse_period
from shared.domain.procedures import CSV_FIELDS, ProcedureCatalog
from shared.domain.scopes import Scope, parse_scope, scope_in, scope_on
from shared.readmodel.figures import catalog_counts
from tests.factories import received
from tests.fixtures import AGENCIES_2024, REORGANISATION_EXAMPLE

REORG = parse_agencies_csv(REORGANISATION_EXAMPLE.read_text(encoding="utf-8"))
UNDATED_2024 = parse_agencies_csv(AGENCIES_2024.read_text(encoding="utf-8"))
NOW = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)
HEADER = "agency_code,name,group,level,parent_code,valid_from,valid_to,successor_code,source"


def check(raw: dict[str, object], agencies: object = REORG) -> object:
    return validate_event(raw, agencies=agencies, now=NOW, index=0)  # type: ignore[arg-type]


def agency_errors(raw: dict[str, object]) -> list[str]:
    result = check(raw)
    assert isinstance(result, list), result
    return [e.reason for e in result if e.field == "agency_code"]


# -- validation at occurred_at ---------------------------------------------------------


def test_late_event_of_a_merged_department_is_valid_on_its_own_date() -> None:
    # 23:30 local on its last day: still valid
    late = received(agency="so-tttt", at="2025-02-28T23:30:00+07:00")
    assert not isinstance(check(late), list)
    # the same instant written in UTC: the local date decides, not the offset written
    assert not isinstance(check(received(agency="so-tttt", at="2025-02-28T16:30:00Z")), list)


def test_event_after_the_end_names_agency_code_end_and_successor() -> None:
    # 00:30 local on 1 March = 17:30 UTC on 28 February: the local date is after valid_to
    (reason,) = agency_errors(received(agency="so-tttt", at="2025-02-28T17:30:00Z"))
    assert reason.startswith("agency 'so-tttt' ended on 2025-02-28 (successor: so-khcn-2025)")
    assert "2025-03-01" in reason
    (district,) = agency_errors(received(agency="ubnd-an-phu", at="2025-07-01T08:00:00+07:00"))
    assert district.startswith("agency 'ubnd-an-phu' ended on 2025-06-30:")
    result = check(received(agency="so-tttt", at="2025-03-05T08:00:00+07:00"))
    assert isinstance(result, list)
    assert [(e.field, e.code, e.index) for e in result] == [("agency_code", "agency_not_valid", 0)]


def test_event_before_the_start_is_rejected_and_after_it_accepted() -> None:
    (reason,) = agency_errors(received(agency="so-khcn-2025", at="2025-02-28T08:00:00+07:00"))
    assert reason.startswith("agency 'so-khcn-2025' starts on 2025-03-01")
    assert not isinstance(
        check(received(agency="so-khcn-2025", at="2025-03-01T00:00:00+07:00")), list
    )


def test_unknown_agency_and_invalid_occurred_at() -> None:
    assert agency_errors(received(agency="so-khong-co"))[0].startswith("unknown agency")
    # occurred_at invalid: its own error, no date check on the agency
    result = check(received(agency="so-tttt", at="2025-03-05T08:00:00"))
    assert isinstance(result, list)
    assert [e.field for e in result] == ["occurred_at"]


def test_a_mapping_or_plain_codes_still_work() -> None:
    after_end = received(agency="so-tttt", at="2025-03-05T08:00:00+07:00")
    assert isinstance(check(after_end, dict(REORG.agencies)), list)  # code -> Agency: dated
    assert not isinstance(check(after_end, REORG.codes), list)  # codes only: existence
    assert isinstance(check(received(agency="nope"), REORG.codes), list)
    # a catalog without dates (the 2024 file): every date is valid
    assert not isinstance(check(after_end, UNDATED_2024), list)
    # the packaged catalog is the province's in time: so-tttt ended on 2025-02-28
    assert isinstance(check(after_end, load_agencies()), list)


# -- scopes, predecessors, parents -------------------------------------------------------


def codes(scope: Scope) -> set[str]:
    return set(scope.codes)


def test_scopes_hold_the_agencies_valid_in_the_period() -> None:
    y2025, y2026 = parse_period("2025"), parse_period("2026")
    p25 = codes(parse_scope("province", REORG, y2025.start, y2025.end))
    p26 = codes(parse_scope("province", REORG, y2026.start, y2026.end))
    assert {"so-tttt", "so-khcn", "so-khcn-2025", "ubnd-an-phu", "xa-mau-01"} <= p25
    assert len(p25) == len(REORG)
    assert {"so-tttt", "so-khcn", "ubnd-an-phu", "xa-mau-01"}.isdisjoint(p26)
    assert {"so-khcn-2025", "so-nnmt", "xa-mau-04", "xa-mau-moi-01", "so-y-te"} <= p26
    # a month before the merger: the old departments only
    feb = codes(parse_scope("group:so_nganh", REORG, date(2025, 2, 1), date(2025, 2, 28)))
    assert "so-tttt" in feb and "so-khcn-2025" not in feb
    assert codes(parse_scope("level:huyen", REORG, y2026.start, y2026.end)) == set()
    assert codes(scope_on("level:xa", REORG, date(2025, 7, 1))) == {
        "xa-mau-04",
        "xa-mau-moi-01",
        "xa-mau-moi-02",
    }
    # no period: the whole catalog; an agency scope: any period
    assert len(parse_scope("province", REORG).members) == len(REORG)
    assert parse_scope("so-tttt", REORG, y2026.start, y2026.end).codes == ["so-tttt"]
    # one date given: that day
    assert "so-tttt" not in codes(parse_scope("province", REORG, date(2025, 3, 1)))
    # re-deriving a scope for a period
    everyone = parse_scope("level:tinh", REORG)
    assert "so-tttt" not in codes(scope_in(everyone, REORG, y2026.start, y2026.end))


def test_predecessors_follow_successor_chains() -> None:
    assert [a.agency_code for a in REORG.predecessors("so-nnmt")] == ["so-nnptnt", "so-tnmt"]
    assert [a.agency_code for a in REORG.predecessors("xa-mau-moi-01")] == [
        "xa-mau-01",
        "xa-mau-02",
    ]
    assert REORG.predecessors("so-y-te") == [] and REORG.predecessors("nope") == []

    def agency(code: str, successor: str | None = None) -> Agency:
        valid_to = date(2025, 1, 1) if successor else None
        return Agency(
            agency_code=code,
            name=code,
            group="so_nganh",
            level="tinh",
            valid_to=valid_to,
            successor_code=successor,
        )

    chain = AgencyCatalog([agency("a", "b"), agency("b", "c"), agency("c"), agency("x", "b")])
    assert [a.agency_code for a in chain.predecessors("c")] == ["b", "a", "x"]
    loop = AgencyCatalog([agency("a", "b"), agency("b", "a")])  # never loaded, but safe
    assert [a.agency_code for a in loop.predecessors("a")] == ["b"]


def test_parent_in_force_follows_the_parents_validity() -> None:
    before, after = date(2025, 6, 30), date(2025, 7, 1)
    parent = REORG.parent_on("xa-mau-04", before)
    assert parent is not None and parent.agency_code == "ubnd-long-xuyen"
    assert REORG.parent_on("xa-mau-04", after) is None  # directly under the province
    assert REORG.parent_on("xa-mau-moi-01", after) is None
    assert REORG.parent_on("so-y-te", after) is None


# -- catalog files -----------------------------------------------------------------------


def file_errors(text: str) -> list[str]:
    with pytest.raises(CatalogFileError) as exc:
        parse_agencies_csv(text)
    return exc.value.errors


def test_example_reorganisation_loads_with_every_current_code() -> None:
    assert REORG.codes >= UNDATED_2024.codes  # ends agencies, drops none
    assert len(REORG) == len(UNDATED_2024) + 5 + 6
    for code in ("so-tttt", "so-khdt", "so-ldtbxh", "so-gtvt", "so-tnmt"):
        old = REORG.get(code)
        assert old is not None and old.valid_to == date(2025, 2, 28) and old.successor_code
        new = REORG.get(old.successor_code)
        assert new is not None and new.valid_from == date(2025, 3, 1)
    communes = [a for a in REORG.agencies.values() if a.level == "xa"]
    assert communes and all(a.group == "dia_phuong" and "(ví dụ)" in a.name for a in communes)
    # round trip
    assert parse_agencies_csv(REORG.to_csv_text()).agencies == REORG.agencies


def test_catalog_file_errors_name_their_lines() -> None:
    text = "\n".join(
        [
            "# a comment line, skipped (line 1)",
            HEADER,
            "a,Sở A,so_nganh,tinh,,,2025-02-28,zz,",  # line 3: unknown successor
            "b,Sở B,so_nganh,tinh,nope,,,,",  # line 4: unknown parent
            "c,Sở C,so_nganh,tinh,,2025-03-01,2025-02-01,,",  # line 5: dates reversed
            "",
            "d,Sở D,khoi_x,tinh,,,,,",  # line 7: bad group
            "e,Sở E,so_nganh,quoc_gia,,,,,",  # line 8: bad level
            "b,Sở B lần hai,so_nganh,tinh,,,,,",  # line 9: repeated code
            "f,Sở F,so_nganh,tinh,,,,a,",  # line 10: successor without an end
            "g,Sở G,so_nganh,tinh,,2025-13-01,,,",  # line 11: not a date
        ]
    )
    errors = file_errors(text)
    joined = "\n".join(errors)
    assert "line 3: successor_code 'zz' is not in the file" in joined
    assert "line 4: parent_code 'nope' is not in the file" in joined
    assert "line 5: valid_from 2025-03-01 is after valid_to 2025-02-01" in joined
    assert any(e.startswith("line 7: group") for e in errors)
    assert any(e.startswith("line 8: level") for e in errors)
    assert "line 9: agency_code 'b' repeats line 4" in joined
    assert "line 10: 'f' has successor_code 'a' but no valid_to" in joined
    assert any(e.startswith("line 11: valid_from") for e in errors)
    assert len(errors) == 8


def test_catalog_file_structure_errors() -> None:
    assert file_errors("agency_code,name,level\nx,X,tinh\n") == ["file: missing column(s) group"]
    assert file_errors(HEADER + "\n") == ["file: no agency rows"]
    cycle = f"{HEADER}\na,A,so_nganh,tinh,,,2025-01-01,b,\nb,B,so_nganh,tinh,,,2025-01-01,a,\n"
    assert any("successor_code cycle a → b → a" in e for e in file_errors(cycle))
    extra = f"{HEADER},note\na,A,so_nganh,tinh,,,,,,x\n"
    assert file_errors(extra)[0].startswith("file: unknown column(s) note")
    # a file without the date columns (the 2024 catalog) is a valid file
    assert len(parse_agencies_csv(AGENCIES_2024.read_text(encoding="utf-8"))) == 31


def test_cli_load_agencies_refuses_an_invalid_file_before_touching_redis(tmp_path: Path) -> None:
    bad = tmp_path / "agencies.csv"
    bad.write_text(f"{HEADER}\na,Sở A,so_nganh,tinh,,,2025-02-28,zz,\n", encoding="utf-8")
    result = CliRunner().invoke(egov_cli, ["catalog", "load-agencies", str(bad)])
    assert result.exit_code == 1
    assert "line 2: successor_code 'zz' is not in the file" in result.output


# -- procedures in time -----------------------------------------------------------------


PROCS = (
    (
        "procedure_code,agency_code,name,service_level,eligible_full_online,fee_required,"
        "valid_from,valid_to\n"
    )
    + """p1,so-tttt,Thủ tục 1,full_online,true,false,,2025-02-28
p2,so-tttt,Thủ tục 2,partial_online,true,true,,
p3,so-tttt,Thủ tục 3,full_online,true,true,2025-07-01,
"""
)


def test_procedures_carry_validity_and_counts_use_the_period() -> None:
    catalog = ProcedureCatalog.from_csv_text(PROCS)
    assert CSV_FIELDS[-2:] == ["valid_from", "valid_to"]
    assert catalog.procedures["p2"].valid_from is None
    assert catalog.procedures["p1"].valid_to == date(2025, 2, 28)
    assert ProcedureCatalog.from_csv_text(catalog.to_csv_text()).procedures == catalog.procedures
    assert len(catalog.of_agency("so-tttt")) == 3
    assert [
        p.procedure_code for p in catalog.of_agency("so-tttt", date(2025, 3, 1), date(2025, 6, 30))
    ] == ["p2"]
    q1 = catalog_counts(catalog, "so-tttt", date(2025, 1, 1), date(2025, 3, 31))
    h2 = catalog_counts(catalog, "so-tttt", date(2025, 7, 1), date(2025, 12, 31))
    assert (q1["procedures_full_online"], q1["procedures_fee_required"]) == (1, 1)
    assert (h2["procedures_full_online"], h2["procedures_fee_required"]) == (1, 2)
    assert (
        catalog.level_counts("so-tttt", date(2025, 1, 1), date(2025, 12, 31))[
            ServiceLevel.full_online
        ]
        == 2
    )
    # files without the date columns stay valid and open-ended
    old = "procedure_code,agency_code,name,service_level,eligible_full_online,fee_required\n"
    plain = ProcedureCatalog.from_csv_text(old + "p9,so-y-te,X,full_online,true,false\n")
    assert plain.of_agency("so-y-te", date(2030, 1, 1), date(2030, 1, 1))
    assert (
        catalog_counts(plain, "so-y-te", date(2030, 1, 1), date(2030, 1, 1))[
            "procedures_full_online"
        ]
        == 1
    )
    with pytest.raises(ValueError, match="after valid_to"):
        ProcedureCatalog.from_csv_text(PROCS.replace(",,2025-02-28", ",2025-03-01,2025-02-28"))


def test_annual_table_names_partial_validity() -> None:
    year = parse_period("2025")
    old, new = REORG.get("so-tttt"), REORG.get("so-khcn-2025")
    assert old is not None and new is not None
    assert _validity_note(old, year) == " (đến 28/02/2025)"
    assert _validity_note(new, year) == " (từ 01/03/2025)"
    assert _validity_note(new, parse_period("2026")) == ""
