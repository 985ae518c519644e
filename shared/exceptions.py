"""The root of every egov-monitor exception: ``except EgovError`` catches what the project
raises on purpose (refusals, bad files, bad parameters), never a bug. Each package keeps its
own in an ``exceptions`` module; each also subclasses the built-in it behaves as
(``ValueError`` for bad input, ``RuntimeError`` for a refusal), so older handlers still work."""

from __future__ import annotations


class EgovError(Exception):
    """Something egov-monitor refused or could not use, with a message for the operator."""
