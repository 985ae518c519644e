"""How figures are written for people, in one place: Vietnamese decimal comma, two decimals
for rates (§4: verdicts compare unrounded values, reports show 99,05%), dot thousands; the
verdict a page shows (too few dossiers: "Chưa đủ số liệu"); the search form of a name."""

from __future__ import annotations

import unicodedata
from enum import StrEnum

from shared.readmodel.figures import Verdict


def pct(value: float | None, digits: int = 2) -> str:
    """99.0512 → ``99,05%``; None (not evaluated) → ``—``."""
    if value is None:
        return "—"
    return f"{value:.{digits}f}".replace(".", ",") + "%"


def num(value: int | None) -> str:
    """40221 → ``40.221`` (Vietnamese thousands separator); None → ``—``."""
    return "—" if value is None else f"{int(value):,}".replace(",", ".")


def points(value: float | None) -> str:
    """Change in percentage points: ``+1,25 điểm``, ``−0,40 điểm``, ``0,00 điểm``."""
    if value is None:
        return "—"
    text = f"{abs(value):.2f}".replace(".", ",")
    if round(value, 2) > 0:
        return f"+{text} điểm"
    if round(value, 2) < 0:
        return f"−{text} điểm"
    return f"{text} điểm"


# -- verdicts as pages show them ------------------------------------------------------------


class ShownVerdict(StrEnum):
    """What the public page and the board say of a figure: the read model's verdict, except
    that a figure counted on too few dossiers is not judged (§9: an island commune with 3
    dossiers is shown as such, not as a failure)."""

    meets = "Đạt"
    below = "Chưa đạt"
    too_few = "Chưa đủ số liệu"
    not_evaluated = "Không đánh giá"


def shown_verdict(
    verdict: Verdict | None, denominator: int, counted: bool, min_denominator: int
) -> ShownVerdict | None:
    """``verdict`` as a page shows it: Đạt / Chưa đạt of an event-counted indicator
    (``counted``: dossiers, documents, payments, ratings) whose denominator is below
    ``min_denominator`` (``EGOV_PUBLIC_MIN_DENOMINATOR``) becomes "Chưa đủ số liệu" — the
    figure itself is still shown. Catalog indicators (procedure counts) are judged as they
    are; None: no target applies."""
    if verdict is None:
        return None
    if verdict is Verdict.not_evaluated:
        return ShownVerdict.not_evaluated
    if counted and denominator < min_denominator:
        return ShownVerdict.too_few
    return ShownVerdict.meets if verdict is Verdict.meets else ShownVerdict.below


def fold(text: str) -> str:
    """Search form of a Vietnamese name: lower case, without tone marks or diacritics, đ as
    d, spaces collapsed — "Xã Đông Thái" and "xa dong thai" match. The pages' script folds
    what a person types the same way."""
    decomposed = unicodedata.normalize("NFD", text.replace("đ", "d").replace("Đ", "D"))
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(bare.casefold().split())


def score(value: float | None) -> str:
    """Points of the 766 index: 65.49 → ``65,49``; None → ``—``."""
    return "—" if value is None else f"{value:.2f}".replace(".", ",")


BAND_CLASSES = {"Xuất sắc": "xs", "Tốt": "tot", "Khá": "kha", "Trung bình": "tb", "Yếu": "yeu"}


def band_class(band: str) -> str:
    """The CSS class suffix of a 766 band (``band-xs``…)."""
    return BAND_CLASSES.get(band, "none")
