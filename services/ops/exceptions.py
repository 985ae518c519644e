"""Refusals of the production operations (nothing was changed)."""

from __future__ import annotations

from shared.exceptions import EgovError


class RebuildRefused(EgovError, RuntimeError):
    """The rebuild would lose history or race a live calculator; nothing was changed."""


class RestoreRefused(EgovError, RuntimeError):
    """The restore would overwrite live data or race a calculator; nothing was changed."""


class YearsRefused(EgovError, RuntimeError):
    """`egov years archive` / `restore` would be unsafe (the running or the previous year,
    a file of another layout or year); nothing was changed."""


class YearArchiveFileError(EgovError, ValueError):
    """A year archive that is not one, or truncated (no trailer, another count)."""
