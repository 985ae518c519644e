"""A receiver's check of an egov-monitor webhook (standard library only: copy it).

    X-Egov-Timestamp: 1764052800                      (Unix seconds, when it was signed)
    X-Egov-Signature: sha256=<hex HMAC-SHA256(secret, timestamp + "." + body)>
    Idempotency-Key:  <the same for every resend of one notification>

Accept a request only when the signature matches (compared in constant time) and the
timestamp is at most 5 minutes old (nor more than 5 minutes ahead); then process each
``Idempotency-Key`` once.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Mapping

TOLERANCE_S = 300


def verify(
    secret: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    now: float | None = None,
    tolerance_s: int = TOLERANCE_S,
) -> bool:
    """True when ``body`` was signed with ``secret`` less than ``tolerance_s`` ago."""
    lower = {k.lower(): v for k, v in headers.items()}
    stamp = lower.get("x-egov-timestamp", "")
    given = lower.get("x-egov-signature", "")
    if not stamp.isdigit() or not given.startswith("sha256="):
        return False
    now = time.time() if now is None else now
    if abs(now - int(stamp)) > tolerance_s:
        return False  # a replay of an old request, or a clock far off
    mac = hmac.new(secret.encode(), stamp.encode() + b"." + body, hashlib.sha256)
    return hmac.compare_digest("sha256=" + mac.hexdigest(), given)
