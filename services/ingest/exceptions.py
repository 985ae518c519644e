"""Ingest's errors: a request body that cannot be read."""

from __future__ import annotations

from shared.exceptions import EgovError


class InvalidBody(EgovError):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class BodyTooLarge(EgovError):
    pass


class BrokerUnavailable(EgovError):
    pass
