"""Refusals of the production operations (nothing was changed)."""

from __future__ import annotations

from shared.exceptions import EgovError


class RebuildRefused(EgovError, RuntimeError):
    """The rebuild would lose history or race a live calculator; nothing was changed."""


class RestoreRefused(EgovError, RuntimeError):
    """The restore would overwrite live data or race a calculator; nothing was changed."""
