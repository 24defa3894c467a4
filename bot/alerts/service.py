"""What happens to a stored alert, after the answer, on the alerts lane: route, group, declare, attach, tell.

Each stored alert is processed once (claimed in the transaction that acts on it). A new alert joins the open
group of its route and group key, or starts one; the group's unique `open_key` means two processes racing on
the first alerts of a storm create one group, and only the process that moves it from `new` to `declaring`
opens an incident. Declaring uses the same open a person's `/incident open` uses (the transport hands it in as
`opener`), with `detected_at` the group's first signal.

Slack never sees a storm: an alert joining a group records a timeline event and counts as "untold"; the
channel (or the triage message) hears about untold alerts at most once per window, as one "N more alerts"
message. Repeats of one alert (same dedup key) update its count and say nothing.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import func
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlmodel import Session, col, select

from bot.alerts import grouping, triage
from bot.alerts.common import FLUSH_JOB, REMIND_JOB, TRIAGE_VIEW, span
from bot.alerts.intake import Intake
from bot.alerts.routes import ATTACH_ONLY, DECLARE, TRIAGE, AlertRules
from bot.app.lanes import ALERTS
from bot.core import effects, facts, incidents, secrets, timeline
from bot.core.incidents import OpenRequest
from bot.core.severity import Inputs
from bot.core.text import Code, Group, Link, Msg, User, When
from bot.store.models import Incident
from bot.store.models.alerts import (
    GROUP_DECLARING,
    GROUP_DISMISSED,
    GROUP_INCIDENT,
    GROUP_NEW,
    GROUP_RECORDED,
    GROUP_TRIAGE,
    Alert,
    AlertGroup,
)
from bot.store.models.incident import RESOLVED
from bot.store.models.timeline import BOT_ACTOR, TimelineEvent

if TYPE_CHECKING:
    from bot.app.services import Services

log = logging.getLogger(__name__)

BATCH = 25  # alerts claimed by one transaction ...
CHUNK_BUDGET = 0.015  # ... worked on for at most this long, so an answer never waits long for the database
COUNTERS_EVERY = 1.0  # seconds between writes of the delivery counters (off the answer's path)
# A claim older than this with no incident is a process that died mid-declare; another may finish it.
CLAIM_TIMEOUT = timedelta(minutes=2)
Opener = Callable[[OpenRequest], int]


class AlertService:
    def __init__(self, services: Services, alert_rules: AlertRules) -> None:
        self.services = services
        self.alert_rules = alert_rules
        self.intake = Intake(self)
        # Opens an incident the way a person's /incident open does; set by the transport that can (Slack).
        self.opener: Opener | None = None
        self.owner = f"alerts-{uuid.uuid4().hex[:12]}"
        self._run_lock = threading.Lock()
        self._queued = threading.Event()
        self._counters_queued = threading.Event()
        self._counters_written = 0.0

    # ----- shorthands --------------------------------------------------------------------------------------
    @property
    def db(self):
        return self.services.db

    @property
    def clock(self):
        return self.services.clock

    @property
    def rules(self):
        return self.services.rules

    @property
    def window(self) -> timedelta:
        return self.alert_rules.window

    # ----- scheduling work after the answer --------------------------------------------------------------
    def kick(self) -> None:
        """Process stored alerts soon, on the alerts lane (coalesced: one queued run covers many deliveries)."""
        if self._queued.is_set():
            return
        self._queued.set()
        try:
            self.services.lanes.run(ALERTS, self._run)
        except RuntimeError:  # the process is stopping; the alerts stay stored and are processed at the next start
            self._queued.clear()

    def _run(self) -> None:
        with self._run_lock:
            self._queued.clear()
            self.process_pending()

    def kick_counters(self) -> None:
        if self._counters_queued.is_set():
            return
        self._counters_queued.set()

        def write() -> None:
            wait = self._counters_written + COUNTERS_EVERY - time.monotonic()
            if wait > 0:  # at most one write a second, however many deliveries (or refusals) there are
                time.sleep(wait)
            self._counters_queued.clear()
            self._counters_written = time.monotonic()
            with self.db.session() as session:
                self.intake.counters.write(session, self.clock.now())

        try:
            self.services.lanes.run(ALERTS, write)
        except RuntimeError:
            self._counters_queued.clear()

    # ----- injecting (tabletop exercises, the console) ------------------------------------------------------
    def inject(self, source_name: str, payload: Any, *, exercise: bool = True) -> int:
        """Store a payload as if `source_name` had sent it (same parsing, checks and storage as the intake, no
        authentication: the caller is firebreak itself). Exercise alerts are marked and keyed apart, so they
        never merge with real alerts of the same dedup or group key, and declare only exercise incidents.
        Returns how many alerts were stored; raises BadAlert (a UsageError) for a bad payload."""
        from bot.alerts import formats
        from bot.core.errors import UsageError

        source = self.alert_rules.sources.get(source_name)
        if source is None:
            raise UsageError(f"Unknown alert source `{source_name}` (sources: "
                             f"{', '.join(self.alert_rules.sources) or 'none configured'}).")
        alerts = formats.parse(source, payload, self.rules)
        if exercise:
            for a in alerts:
                a.dedup_key = ("exercise:" + a.dedup_key)[:200]
                a.group_key = ("exercise:" + a.group_key)[:200] if a.group_key else ""
        stored, _ = self.intake.store(source_name, alerts, exercise=exercise or source.exercise)
        self.intake.counters.add(source_name, "injected" if exercise else "accepted")
        if stored:
            self.kick()
        return stored

    # ----- processing --------------------------------------------------------------------------------------
    def process_pending(self) -> int:
        """Process every stored alert not yet processed; returns how many. Safe in several processes at once:
        each chunk is claimed by the transaction that acts on it (PostgreSQL: rows locked, others skipped)."""
        done = 0
        self.recover()
        while True:
            for attempt in range(3):
                try:
                    claimed, declares = self._process_chunk()
                    break
                except OperationalError:  # e.g. two processes locked two groups in opposite orders: try again
                    if attempt == 2:
                        raise
                    log.info("alert chunk rolled back by the database; trying again")
            done += claimed
            for group_id in declares:
                self.declare(group_id)
            if not claimed:
                break
        self.flush_due()
        return done

    def _process_chunk(self) -> tuple[int, list[int]]:
        """Act on up to BATCH stored alerts in one transaction: (how many, groups to declare after the commit).
        Groups are looked up once per chunk; alerts joining an incident are attached together."""
        declares: list[int] = []
        with self.db.session() as session:
            alerts = list(session.exec(select(Alert).where(Alert.processed == False)  # noqa: E712
                                       .order_by(col(Alert.id)).limit(BATCH).with_for_update(skip_locked=True)))
            if not alerts:
                return 0, []
            now = self.clock.now()
            started = time.monotonic()
            groups: dict[str, AlertGroup] = {}       # open key -> group, locked in this transaction
            known: dict[int, AlertGroup] = {}        # group id -> group
            attach: dict[int, list[Alert]] = {}      # group id -> alerts joining its incident
            resolved: set[int] = set()
            untold_before: dict[int, int] = {}       # group id -> untold alerts before this chunk
            taken = 0
            session.autoflush = False  # one flush for the chunk's writes, not one before every query
            for alert in alerts:
                if taken and time.monotonic() - started > CHUNK_BUDGET:
                    break  # the rest stay stored for the next chunk
                taken += 1
                alert.processed = True
                session.add(alert)
                if alert.group_id is not None:  # a later delivery of a known alert: count, resolve; nothing new
                    group = known.get(alert.group_id) or session.exec(
                        select(AlertGroup).where(AlertGroup.id == alert.group_id).with_for_update()).one()
                    known[alert.group_id] = group
                    self._known(session, group, alert, now)
                    if alert.status == "resolved":
                        resolved.add(alert.group_id)
                    continue
                route_name, action = self.alert_rules.decide(grouping.fields(alert), alert.scores or {})
                route = self.alert_rules.route(route_name)
                alert.route = route_name
                group, created = self._group_for(session, alert, route_name, action,
                                                 grouping.key(alert, route.group_by if route else []), now, groups)
                assert group.id is not None
                known[group.id] = group
                untold_before.setdefault(group.id, group.untold)
                alert.group_id = group.id
                group.alert_count += 1
                group.last_alert_at = now
                if alert.detected_at < group.first_signal_at:
                    group.first_signal_at = alert.detected_at
                if created:
                    if (gid := self._start(session, group, alert, now)) is not None:
                        declares.append(gid)
                elif group.state == GROUP_INCIDENT and group.incident_id is not None:
                    attach.setdefault(group.id, []).append(alert)
                elif group.state == GROUP_TRIAGE:
                    group.untold += 1
                # GROUP_DECLARING: the declare attaches every alert of the group when it finishes
                if alert.status == "resolved":
                    resolved.add(group.id)
            for gid, joining in attach.items():
                group = known[gid]
                self.attach_alerts(session, group, joining, now)
                group.untold += len(joining)
            session.flush()
            session.autoflush = True
            for gid in resolved:
                self._maybe_all_resolved(session, known[gid], now)
            for gid, group in known.items():
                self._tell_if_due(session, group, now, plan=untold_before.get(gid, 0) == 0)
                session.add(group)
        return taken, declares

    def _group_for(self, session: Session, alert: Alert, route: str, action: str, key: str,
                   now: datetime, cache: dict[str, AlertGroup]) -> tuple[AlertGroup, bool]:
        open_key = f"{route}|{key}"[:300]
        if open_key in cache:
            return cache[open_key], False
        group, created = self._find_or_create(session, alert, route, action, key, open_key, now)
        cache[open_key] = group
        return group, created

    def _find_or_create(self, session: Session, alert: Alert, route: str, action: str, key: str, open_key: str,
                        now: datetime) -> tuple[AlertGroup, bool]:
        for _ in range(3):
            group = session.exec(select(AlertGroup).where(AlertGroup.open_key == open_key)
                                 .with_for_update()).first()
            if group is not None and self._stale(session, group, now):
                group.open_key = None
                session.add(group)
                session.flush()
                group = None
            if group is not None:
                return group, False
            group = AlertGroup(open_key=open_key, source=alert.source, route=route, action=action, group_key=key[:200],
                               title=alert.title, state=GROUP_NEW, exercise=alert.exercise,
                               first_signal_at=alert.detected_at, created_at=now, last_alert_at=now)
            try:
                with session.begin_nested():
                    session.add(group)
            except IntegrityError:  # another process made it a moment ago: join that one
                continue
            return group, True
        raise RuntimeError("could not find or create the alert group")

    def _stale(self, session: Session, group: AlertGroup, now: datetime) -> bool:
        """A group stops collecting when its incident is resolved, or when it was dismissed or only recorded
        and nothing arrived for a window."""
        if group.state == GROUP_INCIDENT and group.incident_id is not None:
            incident = session.get(Incident, group.incident_id)
            return incident is None or incident.status == RESOLVED
        if group.state in (GROUP_DISMISSED, GROUP_RECORDED):
            return now - group.last_alert_at >= self.window
        return False

    def _start(self, session: Session, group: AlertGroup, alert: Alert, now: datetime) -> int | None:
        """The first alert of a new group: do what its route says."""
        if alert.status == "resolved":  # a resolution for an alert never seen firing: keep it, act on nothing
            group.state = GROUP_RECORDED
            return None
        if group.action == DECLARE:
            if self.opener is None:
                group.state = GROUP_RECORDED
                log.warning("alert group %s routed to declare, but no transport can open incidents here", group.id)
                return None
            group.state, group.claimed_by, group.claimed_at = GROUP_DECLARING, self.owner, now
            return group.id
        if group.action == ATTACH_ONLY:
            target = self._attach_target(session, alert)
            if target is None:
                group.state = GROUP_RECORDED
                return None
            group.state, group.incident_id = GROUP_INCIDENT, target
            session.flush()
            self.attach_alerts(session, group, [alert], now, first=True)
            return None
        if group.action == TRIAGE and self.alert_rules.doc.triage.channel:
            group.state = GROUP_TRIAGE
            session.flush()
            group.triage_effect_id = effects.post(
                session, None, to=effects.channel(self.alert_rules.doc.triage.channel), view=TRIAGE_VIEW,
                data={"group": group.id}, created_at=now, key=f"alert-group-{group.id}:triage")
            group.told_at = now
            self.services.timers.at(f"alerts:remind:{group.id}", now + self.alert_rules.remind_after, REMIND_JOB,
                                    group_id=group.id)
            return None
        group.state = GROUP_RECORDED
        return None

    def _attach_target(self, session: Session, alert: Alert) -> int | None:
        """An open incident an attach-only alert belongs to: one its group key's earlier alerts joined, else
        the newest open incident of its category."""
        if alert.group_key:
            row = session.exec(select(AlertGroup.incident_id).where(
                AlertGroup.source == alert.source, AlertGroup.group_key == grouping.key(alert, []),
                AlertGroup.incident_id.is_not(None)).order_by(AlertGroup.id.desc())).first()  # type: ignore[union-attr]
            if row is not None:
                incident = session.get(Incident, row)
                if incident is not None and incident.status != RESOLVED:
                    return row
        incident = session.exec(select(Incident).where(Incident.status != RESOLVED,
                                                       Incident.category == alert.category,
                                                       Incident.is_exercise == alert.exercise)
                                .order_by(Incident.id.desc())).first()  # type: ignore[union-attr]
        return incident.id if incident is not None else None

    def _known(self, session: Session, group: AlertGroup, alert: Alert, now: datetime) -> None:
        """A later delivery of a stored alert: its first signal may move earlier; a resolution is looked at with
        the chunk's other alerts (after they are written), so "all resolved" counts them too."""
        if alert.detected_at < group.first_signal_at:
            group.first_signal_at = alert.detected_at
            if group.incident_id is not None:
                self._move_detected(session, group.incident_id, alert, now)
        if alert.status != "resolved":
            group.all_resolved_told = False
        session.add(group)

    # ----- incidents -------------------------------------------------------------------------------------
    def declare(self, group_id: int, reporter: str = BOT_ACTOR) -> int | None:
        """Open the incident for a group this process claimed, then attach every alert of the group to it.
        `reporter`: firebreak for a route's declare, the person who clicked Declare in triage."""
        with self.db.session() as session:
            group = session.get(AlertGroup, group_id)
            if group is None or group.state != GROUP_DECLARING or group.claimed_by != self.owner:
                return None
            first = session.exec(select(Alert).where(Alert.group_id == group_id).order_by(col(Alert.id))).first()
            assert first is not None
            route = self.alert_rules.route(group.route)
            req = self.open_request(group, first, reporter)
        assert self.opener is not None
        number = self.opener(req)  # its own transactions: the incident, channel, summary, announcement
        with self.db.session() as session:
            group = session.exec(select(AlertGroup).where(AlertGroup.id == group_id).with_for_update()).one()
            group.state, group.incident_id = GROUP_INCIDENT, number
            now = self.clock.now()
            alerts = list(session.exec(select(Alert).where(Alert.group_id == group_id).order_by(col(Alert.id))))
            self.attach_alerts(session, group, alerts, now, first=True)
            route = self.alert_rules.route(group.route)
            self._declared_message(session, group, alerts, number, now, route)
            group.untold, group.told_at = 0, now
            session.add(group)
        return number

    def open_request(self, group: AlertGroup, alert: Alert, reporter: str = BOT_ACTOR) -> OpenRequest:
        ins = alert.inputs or {}
        inputs = Inputs(category=alert.category, reach=ins.get("reach"), exposure=ins.get("exposure"),
                        data=ins.get("data"), ongoing=ins.get("ongoing"), regulated_domain=ins.get("domain"))
        description = f"Declared from alerts of {group.source} (route {group.route})."
        return OpenRequest(title=group.title, reporter_id=reporter, inputs=inputs, description=description,
                           detected_at=min(group.first_signal_at, self.clock.now()), is_exercise=group.exercise)

    def _declared_message(self, session: Session, group: AlertGroup, alerts: list[Alert], number: int,
                          now: datetime, route: Any) -> None:
        first = alerts[0]
        parts = [Msg.of(":rotating_light: Declared from {n} alert(s) of {src} (route {route}): *{title}*. "
                        "First signal {at}.", n=len(alerts), src=Code(group.source), route=Code(group.route),
                        title=first.title, at=When(group.first_signal_at))]
        if first.source_url:
            parts.append(Msg.of("Detector: {link}", link=Link(first.source_url)))
        if route is not None and route.levers:
            parts.append(Msg.of("Levers to consider: {levers} (`/incident contain <lever> <reason>`).",
                                levers=", ".join(route.levers)))
        if route is not None and route.page:
            users, usergroups = self.services.config.expand(route.page)
            people = [User(u) for u in sorted(users)] + [Group(g) for g in sorted(usergroups)]
            if people and not group.exercise:
                names = {f"p{i}": p for i, p in enumerate(people)}
                parts.append(Msg.of(" ".join("{" + k + "}" for k in names) + " — paged by the alert route.",
                                    **names))
                if users:
                    effects.invite(session, number, sorted(users), created_at=now, key=f"inc-{number}:alert-page")
        parts.append(Msg.of("`/incident alerts` lists them; more alerts of this group are summarised here at most "
                            "once every {w}.", w=span(self.window)))
        effects.post(session, number, Msg.join(parts), created_at=now, key=f"inc-{number}:alert-declared-{group.id}")
        effects.summary(session, number, created_at=now)

    def attach_alerts(self, session: Session, group: AlertGroup, alerts: list[Alert], now: datetime, *,
                first: bool = False) -> None:
        """Alerts join the group's incident: a timeline event each, clocks from the first signal, evidence as
        repro cases."""
        assert group.incident_id is not None
        number = group.incident_id
        incident = session.get(Incident, number) or incidents.get(session, number)
        for alert in alerts:
            alert.incident_id = number
            session.add(alert)
        at = self.clock.now()
        for a in alerts:  # one event per alert: the timeline has them all, the channel hears of them per window
            # As timeline.record writes them (the same redaction), flushed with the chunk instead of one by one.
            session.add(TimelineEvent(
                incident_id=number, at=at, actor=BOT_ACTOR, kind="alert_attached",
                text=secrets.redact(f"Alert from {a.source}: {a.title} ({a.status}, first signal "
                                    f"{a.detected_at:%H:%M:%S} UTC)"),
                data=secrets.redact_data({"alert_id": a.id, "source": a.source, "dedup_key": a.dedup_key,
                                          "group_id": group.id, "exercise": a.exercise})))
        earliest = min(alerts, key=lambda a: a.detected_at)
        if earliest.detected_at < incident.detected_at:
            self._move_detected(session, number, earliest, now, incident=incident)
        if any(a.evidence and not a.repro_done for a in alerts):
            grouping.add_repro_cases(self, session, incident, alerts)
        if first:
            effects.summary(session, number, created_at=now)

    def _move_detected(self, session: Session, number: int, alert: Alert, now: datetime, *,
                       incident: Incident | None = None) -> None:
        incident = incidents.get(session, number, lock=True)  # re-read under the row lock before changing it
        at = min(alert.detected_at, incident.opened_at)
        if at >= incident.detected_at:
            return
        previous = incident.detected_at
        incident.detected_at = at
        facts.stamp(session, incident)
        session.add(incident)
        timeline.record(session, self.clock, number, "detected_at_from_alert",
                        f"Detection moved to {at:%Y-%m-%d %H:%M:%S} UTC (was {previous:%Y-%m-%d %H:%M:%S} UTC): "
                        f"an earlier signal from {alert.source}", actor=BOT_ACTOR,
                        data={"detected_at": at.isoformat(), "previous": previous.isoformat(), "alert_id": alert.id,
                              "source": alert.source})
        effects.post(session, number, Msg.of(":clock1: An earlier alert from {src} moves the first signal to {at} "
                                             "(was {was}); MTTD and MTTC count from then.", src=Code(alert.source),
                                             at=When(at), was=When(previous)), created_at=now)
        effects.summary(session, number, created_at=now)

    def _maybe_all_resolved(self, session: Session, group: AlertGroup, now: datetime) -> None:
        if group.incident_id is None or group.all_resolved_told:
            return
        firing = session.exec(select(func.count()).select_from(Alert).where(
            Alert.incident_id == group.incident_id, Alert.status != "resolved")).one()
        if firing:
            return
        total = session.exec(select(func.count()).select_from(Alert).where(
            Alert.incident_id == group.incident_id)).one()
        last = session.exec(select(func.max(Alert.resolved_at)).where(Alert.incident_id == group.incident_id)).one()
        group.all_resolved_told = True
        incident = session.get(Incident, group.incident_id)
        if incident is None or incident.status == RESOLVED:
            return
        at = last or now
        timeline.record(session, self.clock, group.incident_id, "alerts_resolved",
                        f"All {total} alerts resolved at {at:%Y-%m-%d %H:%M:%S} UTC", actor=BOT_ACTOR,
                        data={"count": total, "at": at.isoformat()})
        effects.post(session, group.incident_id, Msg.of(
            ":large_green_circle: All {n} alerts resolved at {at}. The detectors are quiet, which is not proof: "
            "confirm containment with `/incident probe` and `/incident contained <note>`.", n=total, at=When(at)),
            created_at=now, key=f"inc-{group.incident_id}:alerts-resolved-{group.id}-{total}")

    # ----- rate-limited telling ----------------------------------------------------------------------------
    def _tell_if_due(self, session: Session, group: AlertGroup, now: datetime, *, plan: bool = True) -> None:
        if group.untold <= 0:
            return
        if group.told_at is not None and now - group.told_at < self.window:
            if plan:  # tell when the window ends (once per chunk and group; the same timer key is replaced)
                self.services.timers.at(f"alerts:flush:{group.id}", group.told_at + self.window, FLUSH_JOB,
                                        group_id=group.id)
            return
        n, group.untold, group.told_at = group.untold, 0, now
        if group.state == GROUP_INCIDENT and group.incident_id is not None:
            effects.post(session, group.incident_id, Msg.of(
                ":bell: {n} more alert(s) from {src} in the last {w} (now {total} in all).", n=n,
                src=Code(group.source), w=span(self.window), total=group.alert_count), created_at=now)
            effects.summary(session, group.incident_id, created_at=now)
        elif group.state == GROUP_TRIAGE and group.triage_effect_id is not None:
            effects.record(session, kind=effects.UPDATE, lane=effects.channel(self.alert_rules.doc.triage.channel or ""),
                           payload={"ref": group.triage_effect_id, "view": TRIAGE_VIEW, "data": {"group": group.id}},
                           created_at=now)

    def flush_due(self) -> int:
        """Tell every group whose untold alerts have waited a window (run after processing and by a timer)."""
        now = self.clock.now()
        told = 0
        with self.db.session() as session:
            ids = list(session.exec(select(AlertGroup.id).where(AlertGroup.untold > 0)))
            for gid in ids:
                group = session.exec(select(AlertGroup).where(AlertGroup.id == gid).with_for_update()).one()
                before = group.untold
                self._tell_if_due(session, group, now, plan=False)
                if group.untold != before:
                    told += 1
                    session.add(group)
        return told

    def recover(self) -> None:
        """Finish declares a process died in the middle of: link the incident it opened, or declare again."""
        now = self.clock.now()
        with self.db.session() as session:
            stuck = list(session.exec(select(AlertGroup).where(AlertGroup.state == GROUP_DECLARING,
                                                               AlertGroup.claimed_at < now - CLAIM_TIMEOUT)))
        for group in stuck:
            with self.db.session() as session:
                row = session.exec(select(AlertGroup).where(AlertGroup.id == group.id).with_for_update()).one()
                if row.state != GROUP_DECLARING or row.claimed_at is None or row.claimed_at >= now - CLAIM_TIMEOUT:
                    continue
                reporter = row.decided_by or BOT_ACTOR
                opened = session.exec(select(Incident.id).where(
                    Incident.title == row.title, Incident.reporter_id == reporter,
                    Incident.opened_at >= row.claimed_at)).first()
                row.claimed_by, row.claimed_at = self.owner, now
                session.add(row)
            if opened is None:
                self.declare(group.id, reporter=reporter)
            else:
                self.opener_done(group.id, opened)

    def opener_done(self, group_id: int, number: int) -> None:
        with self.db.session() as session:
            group = session.exec(select(AlertGroup).where(AlertGroup.id == group_id).with_for_update()).one()
            group.state, group.incident_id = GROUP_INCIDENT, number
            alerts = list(session.exec(select(Alert).where(Alert.group_id == group_id).order_by(col(Alert.id))))
            self.attach_alerts(session, group, alerts, self.clock.now(), first=True)
            session.add(group)

    # ----- triage decisions (bot/alerts/triage.py) ----------------------------------------------------------
    def triage_declare(self, group_id: int, actor: str) -> int:
        return triage.declare(self, group_id, actor)

    def triage_attach(self, group_id: int, number: int, actor: str) -> None:
        triage.attach(self, group_id, number, actor)

    def triage_dismiss(self, group_id: int, reason: str, actor: str) -> None:
        triage.dismiss(self, group_id, reason, actor)

    def remind_due(self) -> int:
        return triage.remind_due(self)
