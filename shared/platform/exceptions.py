"""The platform's errors: topics that cannot keep the event log."""

from __future__ import annotations

from shared.exceptions import EgovError


class TopicCheckError(EgovError, RuntimeError):
    """A topic is missing or its settings would lose history; the message names both."""
