"""The province's published 2024 appendix (Công văn 112/UBND-TH): per agency the received
dossiers by category and the procedure counts. Used by the demo source and the tests."""

from __future__ import annotations

import csv
import io
from functools import lru_cache
from importlib import resources

from pydantic import BaseModel, field_validator

# The appendix's dossier columns and the (service_level, channel) category each counts.
CATEGORY_COLUMNS: dict[str, tuple[str, str]] = {
    "in_person_only_hstn": ("in_person_only", "in_person"),
    "partial_in_person_hstn": ("partial_online", "in_person"),
    "partial_online_hstn": ("partial_online", "online"),
    "full_in_person_hstn": ("full_online", "in_person"),
    "full_online_hstn": ("full_online", "online"),
}


class AppendixRow(BaseModel):
    row: str
    agency_code: str
    agency_name: str
    hstn_total: int
    tthc_total: int
    in_person_only_hstn: int
    in_person_only_tthc: int
    partial_in_person_hstn: int
    partial_online_hstn: int
    partial_tthc: int
    full_in_person_hstn: int
    full_online_hstn: int
    full_tthc: int
    published_full_online_rate: float | None
    published_verdict: str

    @field_validator("published_full_online_rate", mode="before")
    @classmethod
    def _percent(cls, value: object) -> object:
        if isinstance(value, str):
            return float(value.rstrip("%")) if value.strip() else None
        return value

    @property
    def category_counts(self) -> dict[tuple[str, str], int]:
        """Received dossiers per (service_level, channel) as the appendix columns give them."""
        return {cat: getattr(self, col) for col, cat in CATEGORY_COLUMNS.items()}


@lru_cache(maxsize=1)
def load_appendix_2024() -> list[AppendixRow]:
    text = (
        resources.files("shared.domain.data")
        .joinpath("appendix-2024-full-online.csv")
        .read_text("utf-8")
    )
    return [AppendixRow.model_validate(r) for r in csv.DictReader(io.StringIO(text))]
