"""The alerts service's errors: a notification that could not be delivered."""

from __future__ import annotations

from shared.exceptions import EgovError


class DeliveryError(EgovError):
    """A delivery failed; ``retry`` says whether sending it again may succeed."""

    def __init__(self, reason: str, *, retry: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry = retry
