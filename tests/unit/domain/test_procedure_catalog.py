"""The procedure catalog file (shared/domain/procedures.py): the Decision 766 columns
``citizen_data_connected`` and ``certified_copy`` (booleans, default false), checked as a
whole with each error's line; and the summary of catalog replacements the history endpoint
serves (shared/store/catalog_log.py ``summarise``)."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from services.ops.cli import app as egov_cli
from shared.domain.exceptions import CatalogFileError
from shared.domain.procedures import CSV_FIELDS, ProcedureCatalog, parse_procedures_csv
from shared.store.catalog_log import summarise

OLD_HEADER = "procedure_code,agency_code,name,service_level,eligible_full_online,fee_required"
HEADER = OLD_HEADER + ",citizen_data_connected,certified_copy,valid_from,valid_to"


def errors_of(text: str) -> list[str]:
    with pytest.raises(CatalogFileError) as caught:
        parse_procedures_csv(text)
    return caught.value.errors


def test_the_766_columns_default_false_and_round_trip() -> None:
    text = (
        f"{HEADER}\n"
        "p1,so-tp,Chứng thực bản sao,partial_online,true,true,true,true,,\n"
        "p2,so-tp,Thủ tục 2,full_online,true,false,,,,2025-02-28\n"
        "p3,so-tp,Thủ tục 3,full_online,true,false,false,TRUE,2025-03-01,\n"
    )
    catalog = parse_procedures_csv(text)
    p1, p2, p3 = (catalog.procedures[c] for c in ("p1", "p2", "p3"))
    assert (p1.citizen_data_connected, p1.certified_copy) == (True, True)
    assert (p2.citizen_data_connected, p2.certified_copy) == (False, False)  # empty cells
    assert (p3.citizen_data_connected, p3.certified_copy) == (False, True)
    assert p2.valid_to == date(2025, 2, 28)
    again = ProcedureCatalog.from_csv_text(catalog.to_csv_text())
    assert again.procedures == catalog.procedures
    assert catalog.to_csv_text().splitlines()[0] == ",".join(CSV_FIELDS)
    assert "p1,so-tp,Chứng thực bản sao,partial_online,true,true,true,true,," in (
        catalog.to_csv_text()
    )


def test_a_file_without_the_766_columns_stays_valid() -> None:
    catalog = parse_procedures_csv(f"{OLD_HEADER}\np9,so-y-te,X,full_online,true,false\n")
    p9 = catalog.procedures["p9"]
    assert (p9.citizen_data_connected, p9.certified_copy, p9.valid_to) == (False, False, None)


def test_every_problem_is_named_with_its_line() -> None:
    text = (
        f"{HEADER}\n"
        "p1,so-tp,A,full_online,true,false,,,,\n"
        "p2,so-tp,B,level4,true,false,,,,\n"
        "p1,so-y-te,C,full_online,true,false,,,,\n"
        "p3,so-tp,D,full_online,true,false,maybe,,,\n"
        "p4,so-tp,E,full_online,true,false,,,2025-03-01,2025-02-28\n"
        "# a comment line\n"
        "p5,so-tp,F,full_online,yes,false,,,,\n"
    )
    errors = errors_of(text)
    assert errors[0].startswith("line 3: service_level")
    assert errors[1] == "line 4: procedure_code 'p1' repeats line 2 (one row per code)"
    assert errors[2].startswith("line 5: citizen_data_connected")
    assert errors[3].startswith("line 6: ") and "after valid_to" in errors[3]
    assert len(errors) == 4  # "yes" is a boolean; the comment is skipped


def test_columns_missing_or_unknown() -> None:
    assert errors_of("procedure_code,agency_code,name\np,a,n\n") == [
        "file: missing column(s) service_level, eligible_full_online, fee_required"
    ]
    unknown = errors_of(f"{OLD_HEADER},certified_copies\np,a,n,full_online,true,false,true\n")
    assert unknown[0].startswith("file: unknown column(s) certified_copies; expected")


def test_cli_refuses_an_invalid_procedure_file_before_touching_redis(tmp_path: Path) -> None:
    bad = tmp_path / "procedures.csv"
    bad.write_text(
        f"{HEADER}\np1,so-tp,A,full_online,true,false,,,,\np1,x,B,full_online,true,false,,,,\n"
    )
    result = CliRunner().invoke(egov_cli, ["catalog", "load-procedures", str(bad)])
    assert result.exit_code == 1
    assert "line 3: procedure_code 'p1' repeats line 2" in result.output


def test_a_replacement_is_summarised_against_the_previous_catalog_of_its_kind() -> None:
    first: list[dict[str, Any]] = [
        {"procedure_code": "p1", "valid_to": None},
        {"procedure_code": "p2", "valid_to": None},
        {"procedure_code": "p3", "valid_to": "2025-02-28"},
    ]
    rows, counts = summarise("procedures", {}, first)
    assert counts == (3, 0, 0)  # the first catalog of a kind: every row added
    second: list[dict[str, Any]] = [
        {"procedure_code": "p1", "valid_to": "2025-06-30"},  # ended
        {"procedure_code": "p3", "valid_to": "2025-02-28"},  # unchanged
        {"procedure_code": "p4", "valid_to": ""},  # added (an empty date is open-ended)
    ]
    rows2, counts2 = summarise("procedures", rows, second)
    assert counts2 == (1, 1, 1)  # p4 added, p1 ended, p2 removed
    assert rows2 == {"p1": "2025-06-30", "p3": "2025-02-28", "p4": None}
    agencies = [{"agency_code": "so-tttt", "valid_to": "2025-02-28"}]
    assert summarise("agencies", {"so-tttt": None}, agencies)[1] == (0, 1, 0)
