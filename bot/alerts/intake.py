"""`POST /alerts/<source>`: check, store, answer; everything else happens after the answer, on the alerts lane.

In order, each refusal a 4xx with a one-line reason, nothing stored, and a count under the source's name:
unknown source (404), body over 1 MB (413, before reading it), wrong auth, signature or stale timestamp (401),
over the source's rate (429 with Retry-After), malformed JSON or a bad field (400). An accepted delivery is
committed before the 202, so no alert answered with a 2xx is lost; a retried delivery (same dedup key and same
content) changes nothing, and an update of an alert already stored (counted again, resolved) is an update.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from bot.alerts import auth, formats
from bot.alerts.auth import Refused
from bot.alerts.formats import BadAlert, Incoming
from bot.alerts.routes import NAME
from bot.core import limits
from bot.store.models.alerts import Alert, AlertSourceStat

if TYPE_CHECKING:
    from bot.alerts.service import AlertService

log = logging.getLogger(__name__)

MAX_BODY = limits.REQUEST_BODY
ACCEPTED, DUPLICATE = "accepted", "duplicate"


@dataclass(frozen=True)
class Answer:
    status: int
    reason: str
    headers: tuple[tuple[str, str], ...] = ()
    stored: int = 0       # alerts created or changed
    unchanged: int = 0    # retries that changed nothing


class Bucket:
    """A token bucket: `rate` deliveries a second, up to `burst` at once."""

    def __init__(self, rate: float, burst: int, now: float) -> None:
        self.rate, self.burst, self.tokens, self.at = rate, burst, float(burst), now

    def take(self, now: float) -> float:
        """0 when a token was taken, else the seconds until one is there."""
        self.tokens = min(self.burst, self.tokens + (now - self.at) * self.rate)
        self.at = now
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) / self.rate


class Counters:
    """Outcomes per source, counted in memory on the answer's path and written in batches off it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: dict[tuple[str, str], int] = {}

    def add(self, source: str, outcome: str, n: int = 1) -> None:
        with self._lock:
            key = (source, outcome)
            self._pending[key] = self._pending.get(key, 0) + n

    def take(self) -> dict[tuple[str, str], int]:
        with self._lock:
            out, self._pending = self._pending, {}
            return out

    def write(self, session: Session, at: datetime) -> None:
        for (source, outcome), n in self.take().items():
            row = session.exec(select(AlertSourceStat).where(AlertSourceStat.source == source,
                                                             AlertSourceStat.outcome == outcome)
                               .with_for_update()).first()
            if row is None:
                row = AlertSourceStat(source=source, outcome=outcome, count=0, last_at=at)
            row.count += n
            row.last_at = at
            session.add(row)


class Intake:
    def __init__(self, service: AlertService, *, wall: Callable[[], float] = time.time) -> None:
        self.service = service
        self.wall = wall
        self.counters = Counters()
        self._buckets: dict[str, Bucket] = {}
        self._lock = threading.Lock()

    # ----- the request -------------------------------------------------------------------------------------
    def handle(self, source_name: str, headers: dict[str, str], read: Callable[[int], bytes],
               length: int | None) -> Answer:
        """Answer one delivery. `headers` keyed in lower case; `read(n)` reads the body."""
        name = source_name if NAME.match(source_name or "") else "(invalid)"
        try:
            answer = self._handle(name, headers, read, length)
        except Refused as refused:
            # Unknown names are counted together: a sender cannot add a counter row per made-up name.
            known = name in self.service.alert_rules.sources
            self.counters.add(name if known else "(unknown)", refused.outcome)
            log.info("alert delivery refused: source=%s status=%s reason=%s", name if known else "(unknown)",
                     refused.status, refused.reason)
            extra = (("Retry-After", str(refused.retry_after)),) if refused.retry_after else ()
            answer = Answer(refused.status, refused.reason, extra)
        self.service.kick_counters()
        return answer

    def _handle(self, name: str, headers: dict[str, str], read: Callable[[int], bytes],
                length: int | None) -> Answer:
        rules = self.service.alert_rules
        source = rules.sources.get(name)
        if source is None:
            raise Refused(404, "unknown alert source", "unknown_source")
        if length is not None and length > MAX_BODY:
            raise Refused(413, f"body over {MAX_BODY:,} bytes", "too_large")
        body = read(MAX_BODY + 1 if length is None else length)
        if len(body) > MAX_BODY:
            raise Refused(413, f"body over {MAX_BODY:,} bytes", "too_large")
        auth.check(source, headers, body, now=self.wall)
        wait = self._bucket(name, source.rate_per_second, source.burst)
        if wait:
            raise Refused(429, "rate limit for this source exceeded", "rate_limited", retry_after=max(1, math.ceil(wait)))
        try:
            alerts = formats.parse(source, formats.parse_body(body), self.service.rules)
        except BadAlert as err:
            raise Refused(400, err.message, "bad_payload") from None
        stored, unchanged = self.store(name, alerts, exercise=source.exercise)
        self.counters.add(name, ACCEPTED)
        if unchanged:
            self.counters.add(name, DUPLICATE, unchanged)
        if stored:
            self.service.kick()
        return Answer(202, f"accepted {len(alerts)} alert(s)", stored=stored, unchanged=unchanged)

    def _bucket(self, name: str, rate: float, burst: int) -> float:
        now = time.monotonic()
        with self._lock:
            bucket = self._buckets.get(name)
            if bucket is None or bucket.rate != rate or bucket.burst != burst:
                bucket = self._buckets[name] = Bucket(rate, burst, now)
            return bucket.take(now)

    # ----- storing -----------------------------------------------------------------------------------------
    def store(self, source: str, alerts: Iterable[Incoming], *, exercise: bool = False) -> tuple[int, int]:
        """Store a delivery's alerts in one transaction; (stored or changed, unchanged). Committed on return.

        One query finds the stored ones and the new ones are inserted together; if another delivery stored one
        of the same keys in the meantime (a unique-key conflict at commit), the delivery is stored again one
        alert at a time, updating what the other stored."""
        alerts = list(alerts)
        try:
            return self._store(source, alerts, exercise)
        except IntegrityError:
            return self._store(source, alerts, exercise, careful=True)

    def _store(self, source: str, alerts: list[Incoming], exercise: bool, *,
               careful: bool = False) -> tuple[int, int]:
        stored = unchanged = 0
        svc = self.service
        with svc.db.session() as session:
            now = svc.clock.now()
            if careful:
                for inc in alerts:
                    if self._store_one(session, source, inc, now, exercise):
                        stored += 1
                    else:
                        unchanged += 1
                return stored, unchanged
            keys = sorted({inc.dedup_key for inc in alerts})
            rows = {r.dedup_key: r for r in session.exec(
                select(Alert).where(Alert.source == source, Alert.dedup_key.in_(keys))  # type: ignore[attr-defined]
                .order_by(col(Alert.id)).with_for_update())}
            for inc in alerts:
                digest = inc.digest()
                detected = min(inc.detected_at or now, now)
                row = rows.get(inc.dedup_key)
                if row is None:
                    rows[inc.dedup_key] = new_row(source, inc, detected, now, digest, exercise)
                    session.add(rows[inc.dedup_key])
                    stored += 1
                elif row.body_sha256 == digest:
                    unchanged += 1  # a retry: nothing changes
                else:
                    apply_update(row, inc, detected, now, digest)
                    session.add(row)
                    stored += 1
        return stored, unchanged

    def _store_one(self, session: Session, source: str, inc: Incoming, now: datetime, exercise: bool) -> bool:
        digest = inc.digest()
        detected = min(inc.detected_at or now, now)  # a detector's clock ahead of ours never starts a clock later
        row = session.exec(select(Alert).where(Alert.source == source, Alert.dedup_key == inc.dedup_key)
                           .with_for_update()).first()
        if row is None:
            row = new_row(source, inc, detected, now, digest, exercise)
            try:
                with session.begin_nested():
                    session.add(row)
            except IntegrityError:  # another delivery stored it a moment ago: update that one instead
                row = session.exec(select(Alert).where(Alert.source == source, Alert.dedup_key == inc.dedup_key)
                                   .with_for_update()).one()
            else:
                return True
        if row.body_sha256 == digest:
            return False  # a retry: nothing changes
        apply_update(row, inc, detected, now, digest)
        session.add(row)
        return True


def new_row(source: str, inc: Incoming, detected: datetime, now: datetime, digest: str, exercise: bool) -> Alert:
    return Alert(source=source, dedup_key=inc.dedup_key, group_key=inc.group_key, status=inc.status, title=inc.title,
                 category=inc.category, inputs=inc.inputs, labels=inc.labels, scores=inc.scores,
                 evidence=inc.evidence, source_url=inc.source_url, detected_at=detected, received_at=now,
                 last_seen_at=now, body_sha256=digest, exercise=exercise,
                 resolved_at=(inc.ended_at or now) if inc.status == "resolved" else None)


def apply_update(row: Alert, inc: Incoming, detected: datetime, now: datetime, digest: str) -> None:
    """A later delivery of a stored alert: count it, move its first signal earlier, follow its status.

    Deliveries can arrive out of order: a `firing` that started before the stored resolution is an old
    message and does not reopen the alert; a `resolved` for an alert never seen firing is kept as resolved."""
    row.body_sha256 = digest
    row.last_seen_at = now
    row.detected_at = min(row.detected_at, detected)
    if inc.status == "resolved":
        if row.status != "resolved":
            row.status, row.resolved_at = "resolved", min(inc.ended_at or now, now)
    else:
        stale = row.status == "resolved" and row.resolved_at is not None and detected <= row.resolved_at \
            and inc.detected_at is not None
        if not stale:
            if row.status == "resolved":
                row.status, row.resolved_at = "firing", None
            row.count += 1
    if inc.evidence and not row.evidence:
        row.evidence = inc.evidence
    row.processed = False


# ----- WSGI -----------------------------------------------------------------------------------------------
def wsgi(intake_of: Callable[[], Intake | None]) -> Callable[..., Iterable[bytes]]:
    """The WSGI face of the intake, mounted by the HTTP server at /alerts/<source>."""

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        intake = intake_of()
        path = environ.get("PATH_INFO", "")
        if environ.get("REQUEST_METHOD") != "POST":
            answer = Answer(405, "use POST", (("Allow", "POST"),))
        elif intake is None:
            answer = Answer(404, "no alert sources are configured")
        else:
            source = path[len("/alerts/"):].strip("/")
            headers = {k[5:].replace("_", "-").lower(): v for k, v in environ.items() if k.startswith("HTTP_")}
            raw_length = environ.get("CONTENT_LENGTH") or ""
            length = int(raw_length) if raw_length.isdigit() else None
            stream = environ["wsgi.input"]
            try:
                answer = intake.handle(source, headers, stream.read, length)
            except Exception:  # noqa: BLE001 - never a traceback to a sender; stored nothing (rolled back)
                log.exception("alert intake failed")
                answer = Answer(503, "temporarily unable to store the alert; retry", (("Retry-After", "5"),))
        body = (answer.reason + "\n").encode()
        phrase = {202: "Accepted", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found", 405: "Method Not Allowed",
                  413: "Payload Too Large", 429: "Too Many Requests", 503: "Service Unavailable"}.get(answer.status, "")
        start_response(f"{answer.status} {phrase}", [("Content-Type", "text/plain; charset=utf-8"),
                                                     ("Content-Length", str(len(body))), *answer.headers])
        return [body]

    return app
