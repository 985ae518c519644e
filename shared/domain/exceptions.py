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


class PortalFileError(EgovError, ValueError):
    """A national-portal export that cannot be imported (Decision 766 reconciliation);
    ``errors`` holds one message per problem, each naming its line and column
    (``line 7, column TDGQ: ...``) or the file (``file: ...``); ``missing_columns`` the
    required columns the header lacks."""

    def __init__(self, errors: list[str], missing_columns: list[str] | None = None) -> None:
        super().__init__("; ".join(errors))
        self.errors = errors
        self.missing_columns = missing_columns or []
