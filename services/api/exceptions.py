"""The API's own errors (HTTP errors are services/api/errors.py)."""

from __future__ import annotations

from shared.exceptions import EgovError


class MonthNotClosed(EgovError, LookupError):
    """The month has not ended (or is not a month): nothing is published for it."""


class FontMissing(EgovError, RuntimeError):
    """No TrueType font with Vietnamese glyphs to embed."""
