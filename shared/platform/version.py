"""The release of egov-monitor, in one place: the package metadata (pyproject.toml reads it),
``egov --version``, every service's ``/healthz``, the ``X-Egov-Version`` header of every
HTTP response of ingest and the API, and each service's start log line. ``CHANGELOG.md``'s
latest entry names the same version (``tests/unit/test_version.py``)."""

from __future__ import annotations

VERSION = "0.2.0"
VERSION_HEADER = "X-Egov-Version"
