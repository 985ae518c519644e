"""Failed authentications behind one address (issue 20, item 8): a bad client blocks its own
token only; guessing with many tokens blocks the tokens not already used from there."""

from __future__ import annotations

import pytest

from shared.platform.auth import FailureLimiter


def test_one_bad_client_blocks_only_its_own_token() -> None:
    limiter = FailureLimiter(10, window_s=60)
    gateway = "10.0.0.1"
    for t in range(10):  # a misconfigured source behind the gateway, the same wrong token
        assert limiter.retry_after(gateway, "bad", float(t)) is None
        limiter.failed(gateway, "bad", float(t))
    assert limiter.retry_after(gateway, "bad", 10.0) == pytest.approx(50.0)
    assert limiter.retry_after(gateway, "good", 10.0) is None  # every other token passes
    assert limiter.retry_after(gateway, "bad", 60.5) is None  # the window moved on


def test_guessing_from_an_address_refuses_only_tokens_it_has_not_used() -> None:
    limiter = FailureLimiter(5, window_s=60)
    gateway = "10.0.0.1"
    limiter.succeeded(gateway, "working-source", 0.0)
    for i in range(5):  # five different guesses in a minute
        limiter.failed(gateway, f"guess-{i}", 1.0 + i)
    # another guess, a right one included, is refused the same way: nothing to learn
    assert limiter.retry_after(gateway, "guess-5", 6.0) == pytest.approx(55.0)
    assert limiter.retry_after(gateway, "valid-never-seen-here", 6.0) is not None
    assert limiter.retry_after(gateway, "-", 6.0) is not None  # no token at all
    # a source that already worked from this address keeps working
    assert limiter.retry_after(gateway, "working-source", 6.0) is None
    assert limiter.retry_after("10.0.0.2", "guess-5", 6.0) is None  # per address
    assert limiter.retry_after(gateway, "guess-5", 61.5) is None
