"""One message on ``egov.indicator-updates.v1``: an agency's year-to-date figures, as the
calculator publishes them and the alerts service reads them."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from shared.readmodel.figures import Reading, Verdict


class IndicatorFigures(BaseModel):
    numerator: int
    denominator: int
    value: float | None = Field(description="Percent; null when not evaluated")
    # added in the one read model (older messages lack them: the defaults apply)
    evaluated: bool = Field(
        default=True, description="False: the indicator does not apply or has no denominator"
    )
    target: float | None = None
    target_set: str | None = None
    verdict: Verdict | None = Field(default=None, description="Null when no target applies")

    @classmethod
    def of(cls, reading: Reading) -> IndicatorFigures:
        target = reading.target
        return cls(
            numerator=reading.figure.numerator,
            denominator=reading.figure.denominator,
            value=reading.value,
            evaluated=reading.evaluated,
            target=target.min_percent if target else None,
            target_set=target.target_set if target else None,
            verdict=reading.verdict,
        )


class IndicatorUpdate(BaseModel):
    """One message on the indicator-updates topic: an agency's year-to-date figures."""

    agency_code: str
    period: str
    indicators: dict[str, IndicatorFigures]
    published_at: datetime
