"""KRaft cluster ids the storage tool accepts."""

from __future__ import annotations

import base64
import itertools

import pytest

from devstack import kafka


def test_cluster_id_never_starts_with_a_dash(monkeypatch: pytest.MonkeyPatch) -> None:
    # 0xf8... encodes to "-…" in base64url: the storage tool took that for an option
    draws = itertools.chain([b"\xf8" + bytes(15)], itertools.repeat(bytes(range(16))))
    monkeypatch.setattr("devstack.kafka.os.urandom", lambda n: next(draws))
    assert base64.urlsafe_b64encode(b"\xf8" + bytes(15)).decode().startswith("-")
    cid = kafka.new_cluster_id()
    assert cid == base64.urlsafe_b64encode(bytes(range(16))).decode().rstrip("=")
    assert len(cid) == 22
