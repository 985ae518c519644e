"""The alerts service's errors: a notification that could not be delivered."""

from __future__ import annotations

from shared.exceptions import EgovError


class DeliveryError(EgovError):
    pass
