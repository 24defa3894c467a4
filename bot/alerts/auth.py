"""Who may send alerts: each source's own secret, as a bearer token or an HMAC-SHA256 signature.

Signed deliveries carry `X-Firebreak-Request-Timestamp: <unix seconds>` and
`X-Firebreak-Signature: v0=<hex of HMAC-SHA256(secret, "v0:<timestamp>:<body>")>`; a timestamp more than five
minutes from now is refused, so a captured delivery cannot be replayed later. Comparisons are constant-time
and the secret never appears in an answer, a log line or a counter.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable, Mapping

from bot.alerts.routes import Source

TIMESTAMP_HEADER = "x-firebreak-request-timestamp"
SIGNATURE_HEADER = "x-firebreak-signature"
REPLAY_WINDOW = 300  # seconds


class Refused(Exception):
    """Why a delivery is not accepted: an HTTP status, a one-line reason and the counter it goes under."""

    def __init__(self, status: int, reason: str, outcome: str, *, retry_after: int | None = None) -> None:
        super().__init__(reason)
        self.status, self.reason, self.outcome, self.retry_after = status, reason, outcome, retry_after


def signature(secret: str, timestamp: str, body: bytes) -> str:
    mac = hmac.new(secret.encode(), b"v0:" + timestamp.encode() + b":" + body, hashlib.sha256)
    return "v0=" + mac.hexdigest()


def check(source: Source, headers: Mapping[str, str], body: bytes, *,
          now: Callable[[], float] = time.time) -> None:
    """Raise Refused unless the delivery carries the source's secret (headers keyed in lower case)."""
    secret = source.secret()
    if not secret:  # a source whose secret is not set accepts nothing (fail closed)
        raise Refused(401, "this source has no secret configured", "no_secret")
    if source.auth == "bearer":
        given = headers.get("authorization", "")
        scheme, _, token = given.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), secret.encode()):
            raise Refused(401, "missing or wrong bearer token", "bad_auth")
        return
    stamp = headers.get(TIMESTAMP_HEADER, "")
    sig = headers.get(SIGNATURE_HEADER, "")
    if not stamp or not sig:
        raise Refused(401, f"missing {TIMESTAMP_HEADER} or {SIGNATURE_HEADER} header", "bad_auth")
    if not stamp.isascii() or not stamp.isdigit() or len(stamp) > 12:
        raise Refused(401, "the timestamp must be whole seconds since 1970", "bad_auth")
    if abs(now() - int(stamp)) > REPLAY_WINDOW:
        raise Refused(401, "stale timestamp (more than 5 minutes from now)", "stale")
    if not hmac.compare_digest(signature(secret, stamp, body).encode(), sig.strip().encode()):
        raise Refused(401, "wrong signature", "bad_signature")
