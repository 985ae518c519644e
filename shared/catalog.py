"""Agency catalog: codes, Vietnamese names, group, level, parent, validity, successor.

Loaded from ``shared/data/agencies.csv`` (or ``EGOV_AGENCIES_CSV``); the one source every
service uses to know which agencies exist and how they roll up into scopes.
"""

from __future__ import annotations

import csv
import io
import os
from datetime import date
from enum import StrEnum
from functools import lru_cache
from importlib import resources
from pathlib import Path

from pydantic import BaseModel, ConfigDict, field_validator


class AgencyGroup(StrEnum):
    so_nganh = "so_nganh"
    dia_phuong = "dia_phuong"


class AgencyLevel(StrEnum):
    tinh = "tinh"
    huyen = "huyen"
    xa = "xa"


class Agency(BaseModel):
    model_config = ConfigDict(frozen=True)

    agency_code: str
    name: str
    group: AgencyGroup
    level: AgencyLevel
    parent_code: str | None = None
    valid_from: date | None = None
    valid_to: date | None = None
    successor_code: str | None = None
    source: str = ""

    @field_validator("parent_code", "successor_code", "valid_from", "valid_to", mode="before")
    @classmethod
    def _blank_is_none(cls, value: object) -> object:
        return None if value == "" else value

    def valid_on(self, day: date) -> bool:
        """Whether the agency exists on ``day`` (validity dates inclusive, empty = open)."""
        return (self.valid_from is None or self.valid_from <= day) and (
            self.valid_to is None or day <= self.valid_to
        )

    def valid_between(self, start: date, end: date) -> bool:
        """Whether the agency exists on some day of [start, end] (§4a.6)."""
        return (self.valid_from is None or self.valid_from <= end) and (
            self.valid_to is None or start <= self.valid_to
        )


class AgencyCatalog:
    def __init__(self, agencies: list[Agency]) -> None:
        self.agencies: dict[str, Agency] = {a.agency_code: a for a in agencies}

    def __contains__(self, code: object) -> bool:
        return code in self.agencies

    def __len__(self) -> int:
        return len(self.agencies)

    def get(self, code: str) -> Agency | None:
        return self.agencies.get(code)

    @property
    def codes(self) -> frozenset[str]:
        return frozenset(self.agencies)

    def in_group(self, group: AgencyGroup) -> list[Agency]:
        return [a for a in self.agencies.values() if a.group is group]

    def at_level(self, level: AgencyLevel) -> list[Agency]:
        return [a for a in self.agencies.values() if a.level is level]

    def valid_on(self, day: date) -> list[Agency]:
        """The agencies that exist on ``day`` (e.g. today, for silence alerts)."""
        return [a for a in self.agencies.values() if a.valid_on(day)]

    def valid_between(self, start: date, end: date) -> list[Agency]:
        """The agencies that exist at some time in [start, end]: a period's scope members."""
        return [a for a in self.agencies.values() if a.valid_between(start, end)]

    @classmethod
    def from_csv_text(cls, text: str) -> AgencyCatalog:
        rows = csv.DictReader(io.StringIO(text))
        return cls([Agency.model_validate(row) for row in rows])


def _data_text(name: str, override_env: str) -> str:
    override = os.environ.get(override_env)
    if override:
        return Path(override).read_text(encoding="utf-8")
    return resources.files("shared.data").joinpath(name).read_text(encoding="utf-8")


@lru_cache(maxsize=1)
def load_agencies() -> AgencyCatalog:
    return AgencyCatalog.from_csv_text(_data_text("agencies.csv", "EGOV_AGENCIES_CSV"))
