"""Indicator definitions (domain README §5), read from ``shared/domain/data/indicators.csv``.

An event-counted indicator is a ratio of two *marks* (see ``shared.domain.counting``): the
numerator mark and the denominator mark, both counted on distinct entities.
"""

from __future__ import annotations

import csv
import io
from functools import lru_cache
from importlib import resources

from pydantic import BaseModel, ConfigDict

# The full-online rate under its two definitions (domain README §1, seed CV 112 footnote 1):
# the province's (÷ dossiers received) and the national EMC system's (÷ dossiers resolved).
# Side by side, the gap between the province's and EMC's published figures splits into the
# part the definition explains and the part only the data (missing connections) explains.
FULL_ONLINE_RATE = "full_online_rate"
EMC_FULL_ONLINE_RATE = "emc_full_online_rate"
FULL_ONLINE_INDICATORS = frozenset({FULL_ONLINE_RATE, EMC_FULL_ONLINE_RATE})
FULL_ONLINE_DEFINITIONS_VI = (
    "Tỷ lệ toàn trình của tỉnh = hồ sơ trực tuyến toàn trình ÷ hồ sơ tiếp nhận; "
    "cách tính EMC (CV 112, chú thích 1) = hồ sơ trực tuyến toàn trình ÷ hồ sơ đã giải quyết."
)


class Indicator(BaseModel):
    model_config = ConfigDict(frozen=True)

    indicator: str
    name_vi: str
    name_en: str
    source: str
    numerator: str
    denominator: str


@lru_cache(maxsize=1)
def load_indicators() -> dict[str, Indicator]:
    text = resources.files("shared.domain.data").joinpath("indicators.csv").read_text("utf-8")
    return {
        row["indicator"]: Indicator.model_validate(row) for row in csv.DictReader(io.StringIO(text))
    }


def ratio_percent(numerator: int, denominator: int) -> float | None:
    """Percent value; an empty denominator is 'not evaluated' (None), never 0 %."""
    if denominator <= 0:
        return None
    return 100.0 * numerator / denominator
