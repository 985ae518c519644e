"""The API in process for integration tests: a ``TestClient`` on a given Redis and the
development tokens' headers (``EGOV_ENV=development``, no tokens issued)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from fastapi.testclient import TestClient

from services.api.app import create_app
from shared.platform.config import Settings

READ = {"Authorization": "Bearer dev-read-token"}
ADMIN = {"Authorization": "Bearer dev-admin-token"}


@contextmanager
def api_on(redis_url: str) -> Iterator[TestClient]:
    """The API (its lifespan run) reading ``redis_url``."""
    with TestClient(create_app(Settings(redis_url=redis_url))) as client:
        yield client


def get_json(client: TestClient, path: str, **params: Any) -> Any:
    """A read with the read token that must answer 200: its JSON body."""
    resp = client.get(path, params=params, headers=READ)
    assert resp.status_code == 200, resp.text
    return resp.json()
