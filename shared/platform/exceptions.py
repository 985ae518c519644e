"""The platform's errors: topics that cannot keep the event log."""

from __future__ import annotations

from shared.exceptions import EgovError


class TopicCheckError(EgovError, RuntimeError):
    """A topic is missing or its settings would lose history; the message names both."""


class UndocumentedSetting(EgovError, ValueError):
    """A settings field with no description and no comment above it."""


class UndescribedMark(EgovError, KeyError):
    """An indicator counts a mark :data:`MARKS` does not describe."""
