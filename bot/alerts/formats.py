"""The two payload formats, turned into one shape (`Incoming`), every field checked and capped.

(a) Prometheus Alertmanager's webhook, version 4 (Grafana's webhook contact point sends the same shape):
`status`, `alerts[]` with `labels`, `annotations`, `startsAt`, `endsAt`, `fingerprint`, `generatorURL`. The
source's mapping says which label or annotation fills each AI field (docs/alerts.md).

(b) firebreak's own JSON for AI detectors: one alert object, or `{"alerts": [...]}`, with `title`,
`category` (a rubric key), optional `reach` / `exposure` / `data` / `ongoing` / `domain`, `detected_at`,
`dedup_key`, `group_key`, `status` (`firing` / `resolved`), `source_url`, `evidence` (a list of
`{prompt, output, model, surface, scores}`), `labels` and `scores`.

Detector text is untrusted: it is kept as plain text (never Slack markup), escaped where it leaves, and every
field has a cap. A bad value answers with what was wrong, and nothing of the delivery is stored.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from bot.alerts.routes import Source
from bot.core import limits
from bot.core.errors import UsageError
from bot.core.severity import SeverityRules

MAX_ALERTS = 500          # alerts in one delivery
MAX_LABELS = 50
MAX_LABEL_KEY = 100
MAX_LABEL_VALUE = 500
MAX_EVIDENCE = 20         # prompt/output pairs in one alert
MAX_KEY = 200             # dedup and group keys
MAX_URL = 500
STATUSES = ("firing", "resolved")
_GO_ZERO = "0001-01-01T00:00:00Z"
_FRACTION = re.compile(r"\.(\d{6})\d+")


class BadAlert(UsageError):
    """What is wrong with a delivery, in one line."""


@dataclass
class Incoming:
    """One alert as every later step sees it."""

    title: str
    category: str
    status: str
    dedup_key: str
    group_key: str
    detected_at: datetime | None
    ended_at: datetime | None
    inputs: dict[str, Any] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    scores: dict[str, float] = field(default_factory=dict)
    evidence: list[dict[str, Any]] = field(default_factory=list)
    source_url: str | None = None

    def fields(self, source: str) -> dict[str, Any]:
        """What route conditions see."""
        return {"source": source, "title": self.title, "category": self.category, "status": self.status,
                "dedup_key": self.dedup_key, "group_key": self.group_key, "labels": self.labels, **self.inputs}

    def digest(self) -> str:
        doc = {"title": self.title, "category": self.category, "status": self.status, "dedup": self.dedup_key,
               "group": self.group_key, "at": self.detected_at.isoformat() if self.detected_at else None,
               "end": self.ended_at.isoformat() if self.ended_at else None, "inputs": self.inputs,
               "labels": self.labels, "scores": self.scores, "evidence": self.evidence, "url": self.source_url}
        return hashlib.sha256(json.dumps(doc, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def parse_body(raw: bytes) -> Any:
    try:
        return json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise BadAlert("the body is not UTF-8 text") from None
    except (json.JSONDecodeError, RecursionError) as err:
        raise BadAlert(f"malformed JSON ({str(err).split(':')[0][:80]})") from None


def parse(source: Source, body: Any, rules: SeverityRules) -> list[Incoming]:
    if source.format == "alertmanager":
        return alertmanager(source, body, rules)
    return firebreak(source, body, rules)


# ----- checks --------------------------------------------------------------------------------------------
def text(value: Any, what: str, limit: int, *, required: bool = False) -> str:
    if value is None or value == "":
        if required:
            raise BadAlert(f"`{what}` is missing")
        return ""
    if not isinstance(value, str | int | float) or isinstance(value, bool):
        raise BadAlert(f"`{what}` must be text")
    value = str(value)
    if any(ch in limits.CONTROL for ch in value):
        raise BadAlert(f"`{what}` contains control characters")
    value = value.strip()
    if len(value) > limit:
        raise BadAlert(f"`{what}` is {len(value):,} characters; the limit is {limit:,}")
    return value


def when(value: Any, what: str) -> datetime | None:
    if value in (None, "", _GO_ZERO):
        return None
    if not isinstance(value, str) or len(value) > 64:
        raise BadAlert(f"`{what}` must be an ISO 8601 time such as 2026-11-26T04:10:00Z")
    raw = _FRACTION.sub(lambda m: "." + m.group(1), value.strip()).replace("Z", "+00:00").replace("z", "+00:00")
    try:
        at = datetime.fromisoformat(raw)
    except ValueError:
        raise BadAlert(f"`{what}` is not an ISO 8601 time (`{limits.shown(value, 40)}`)") from None
    if at.tzinfo is None:
        raise BadAlert(f"`{what}` has no time zone; add Z for UTC")
    if at.year < 2000:
        return None
    return at.astimezone(UTC)


def url(value: Any, what: str) -> str | None:
    value = text(value, what, MAX_URL)
    if not value:
        return None
    if not re.match(r"^https?://[^\s<>|]+$", value):
        raise BadAlert(f"`{what}` must be an http(s) URL without spaces")
    return value


def label_map(value: Any, what: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise BadAlert(f"`{what}` must be an object of text values")
    if len(value) > MAX_LABELS:
        raise BadAlert(f"`{what}` has {len(value)} entries; the limit is {MAX_LABELS}")
    out = {}
    for k, v in value.items():
        key = text(k, f"{what} key", MAX_LABEL_KEY, required=True)
        out[key] = text(v, f"{what}.{limits.shown(key, 40)}", MAX_LABEL_VALUE)
    return out


def score_map(value: Any, what: str) -> dict[str, float]:
    if value is None:
        return {}
    if not isinstance(value, dict) or len(value) > MAX_LABELS:
        raise BadAlert(f"`{what}` must be an object of at most {MAX_LABELS} numbers")
    out = {}
    for k, v in value.items():
        key = text(k, f"{what} key", MAX_LABEL_KEY, required=True)
        if isinstance(v, bool) or not isinstance(v, int | float) or v != v or v in (float("inf"), float("-inf")):
            raise BadAlert(f"`{what}.{limits.shown(key, 40)}` must be a number")
        out[key] = float(v)
    return out


def ongoing_value(value: Any) -> bool | None:
    if value in (None, ""):
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "yes", "1"):
        return True
    if isinstance(value, str) and value.lower() in ("false", "no", "0"):
        return False
    raise BadAlert("`ongoing` must be true or false")


def inputs(rules: SeverityRules, raw: dict[str, Any], where: str) -> tuple[str, dict[str, Any]]:
    """(category, the rubric's other inputs), each checked against the rubric."""
    try:
        category = rules.check_category(text(raw.get("category"), f"{where}category", 40, required=True))
        out = {
            "reach": rules.check_scale("reach", text(raw.get("reach"), f"{where}reach", 40) or None),
            "exposure": rules.check_scale("exposure", text(raw.get("exposure"), f"{where}exposure", 40) or None),
            "data": rules.check_scale("data", text(raw.get("data"), f"{where}data", 40) or None),
            "ongoing": ongoing_value(raw.get("ongoing")),
            "domain": rules.check_domain(text(raw.get("domain"), f"{where}domain", 40) or None),
        }
    except BadAlert:
        raise
    except UsageError as err:
        raise BadAlert(f"{where}{err.message if hasattr(err, 'message') else err}") from None
    return category, {k: v for k, v in out.items() if v is not None}


def evidence(value: Any, where: str) -> list[dict[str, Any]]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise BadAlert(f"`{where}evidence` must be a list of prompt/output pairs")
    if len(value) > MAX_EVIDENCE:
        raise BadAlert(f"`{where}evidence` has {len(value)} items; the limit is {MAX_EVIDENCE}")
    out = []
    for i, item in enumerate(value):
        at = f"{where}evidence[{i}]"
        if not isinstance(item, dict):
            raise BadAlert(f"`{at}` must be an object with `prompt` and `output`")
        pair = {"prompt": text(item.get("prompt"), f"{at}.prompt", limits.REPRO, required=True),
                "output": text(item.get("output"), f"{at}.output", limits.REPRO),
                "model": text(item.get("model"), f"{at}.model", 200),
                "surface": text(item.get("surface"), f"{at}.surface", 200),
                "scores": score_map(item.get("scores"), f"{at}.scores")}
        if len((str(pair["prompt"]) + str(pair["output"])).encode()) > limits.REPRO:
            raise BadAlert(f"`{at}` is over {limits.REPRO:,} bytes")
        out.append(pair)
    return out


def _key(value: str, fallback: dict[str, Any]) -> str:
    if value:
        return value
    return "h:" + hashlib.sha256(json.dumps(fallback, sort_keys=True, default=str).encode()).hexdigest()[:40]


def _status(value: Any, where: str) -> str:
    status = text(value, f"{where}status", 12) or "firing"
    if status not in STATUSES:
        raise BadAlert(f"`{where}status` must be firing or resolved")
    return status


# ----- (b) firebreak JSON -------------------------------------------------------------------------------
def firebreak(source: Source, body: Any, rules: SeverityRules) -> list[Incoming]:
    items = body.get("alerts") if isinstance(body, dict) and "alerts" in body else [body]
    if not isinstance(items, list) or not items:
        raise BadAlert("expected an alert object or {\"alerts\": [...]}")
    if len(items) > MAX_ALERTS:
        raise BadAlert(f"{len(items)} alerts in one delivery; the limit is {MAX_ALERTS}")
    out = []
    for i, item in enumerate(items):
        where = f"alerts[{i}]." if len(items) > 1 or item is not body else ""
        if not isinstance(item, dict):
            raise BadAlert(f"{where or 'the body'} must be a JSON object")
        raw = {**source.defaults, **{k: v for k, v in item.items() if v is not None}}
        category, ins = inputs(rules, raw, where)
        title = text(item.get("title"), f"{where}title", limits.TITLE, required=True)
        scores = score_map(item.get("scores"), f"{where}scores")
        pairs = evidence(item.get("evidence"), where)
        for pair in pairs:  # a route's thresholds see the highest score any evidence reported
            for k, v in pair["scores"].items():
                scores[k] = max(scores.get(k, v), v)
        labels = label_map(item.get("labels"), f"{where}labels")
        detected = when(item.get("detected_at"), f"{where}detected_at")
        dedup = text(item.get("dedup_key"), f"{where}dedup_key", MAX_KEY)
        out.append(Incoming(
            title=title, category=category, status=_status(item.get("status"), where),
            dedup_key=_key(dedup, {"t": title, "c": category, "l": labels, "d": str(detected)}),
            group_key=text(item.get("group_key"), f"{where}group_key", MAX_KEY),
            detected_at=detected, ended_at=when(item.get("resolved_at"), f"{where}resolved_at"),
            inputs=ins, labels=labels, scores=scores, evidence=pairs,
            source_url=url(item.get("source_url"), f"{where}source_url")))
    return out


# ----- (a) Alertmanager ----------------------------------------------------------------------------------
def _lookup(alert: dict[str, Any], path: str) -> Any:
    if path in ("fingerprint", "generatorURL"):
        return alert.get(path)
    kind, _, key = path.partition(".")
    section = alert.get(kind)
    return section.get(key) if isinstance(section, dict) else None


def _mapped(source: Source, alert: dict[str, Any], key: str) -> Any:
    for path in source.paths(key):
        value = _lookup(alert, path)
        if value not in (None, ""):
            return value
    return source.defaults.get(key)


def alertmanager(source: Source, body: Any, rules: SeverityRules) -> list[Incoming]:
    if not isinstance(body, dict):
        raise BadAlert("expected an Alertmanager webhook object")
    if str(body.get("version", "")) != "4":
        raise BadAlert("unsupported Alertmanager webhook version (expected \"4\")")
    items = body.get("alerts")
    if not isinstance(items, list) or not items:
        raise BadAlert("`alerts` must be a non-empty list")
    if len(items) > MAX_ALERTS:
        raise BadAlert(f"{len(items)} alerts in one delivery; the limit is {MAX_ALERTS}")
    out = []
    for i, alert in enumerate(items):
        where = f"alerts[{i}]."
        if not isinstance(alert, dict):
            raise BadAlert(f"`alerts[{i}]` must be an object")
        labels = label_map(alert.get("labels"), f"{where}labels")
        annotations = label_map(alert.get("annotations"), f"{where}annotations")
        alert = {**alert, "labels": labels, "annotations": annotations}
        raw = {k: _mapped(source, alert, k) for k in ("category", "reach", "exposure", "data", "ongoing", "domain")}
        category, ins = inputs(rules, raw, f"{where}(mapped) ")
        title = text(_mapped(source, alert, "title"), f"{where}(mapped) title", limits.TITLE, required=True)
        prompt = text(_mapped(source, alert, "prompt"), f"{where}(mapped) prompt", limits.REPRO)
        pairs = []
        if prompt:
            pairs = evidence([{"prompt": prompt, "output": _mapped(source, alert, "output") or "",
                               "model": _mapped(source, alert, "model") or "",
                               "surface": _mapped(source, alert, "surface") or ""}], where)
        scores = score_map(alert.get("values") if isinstance(alert.get("values"), dict) else None, f"{where}values")
        dedup = text(_mapped(source, alert, "dedup_key"), f"{where}(mapped) dedup_key", MAX_KEY)
        out.append(Incoming(
            title=title, category=category, status=_status(alert.get("status") or body.get("status"), where),
            dedup_key=_key(dedup, {"l": labels}),
            group_key=text(_mapped(source, alert, "group_key"), f"{where}(mapped) group_key", MAX_KEY),
            detected_at=when(alert.get("startsAt"), f"{where}startsAt"),
            ended_at=when(alert.get("endsAt"), f"{where}endsAt"),
            inputs=ins, labels=labels, scores=scores, evidence=pairs,
            source_url=url(_mapped(source, alert, "source_url"), f"{where}generatorURL")))
    return out
