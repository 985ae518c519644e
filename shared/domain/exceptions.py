"""The domain's errors: a scope, period or catalog file that cannot be used."""

from __future__ import annotations

from shared.exceptions import EgovError


class ScopeError(EgovError, ValueError):
    pass


class PeriodError(EgovError, ValueError):
    pass


class CatalogFileError(EgovError, ValueError):
    """A catalog file that cannot be loaded; ``errors`` holds one message per problem, each
    naming its line (``line 7: ...``) or the file (``file: ...``)."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("; ".join(errors))
        self.errors = errors
