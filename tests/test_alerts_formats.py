"""The payload parsers as properties: whatever JSON arrives, the answer is an alert list or a BadAlert (a
400 with a reason), never another error; what is accepted is within every cap; the route table in order."""

from __future__ import annotations

import json
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.alerts import formats
from bot.alerts.formats import BadAlert
from bot.alerts.routes import parse_rules
from bot.core.severity import load_rules

RUBRIC = load_rules(None)
RULES = parse_rules({
    "sources": {"det": {"format": "firebreak", "secret_env": "X_DET"},
                "am": {"format": "alertmanager", "auth": "bearer", "secret_env": "X_AM",
                       "defaults": {"category": "other"}}},
    "routes": [
        {"name": "pii", "when": {"in": {"category": ["data_leakage"]}}, "action": "declare"},
        {"name": "spike", "when": {"equals": {"labels.kind": "block-rate"}, "scores": {"rate": {"at_least": 0.2}}},
         "action": "declare"},
        {"name": "evals", "when": {"regex": {"title": "(?i)eval"}}, "action": "triage"},
    ],
    "triage": {"channel": "C0TRIAGE"},
}, "test.yml", RUBRIC)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=30),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=5),
    max_leaves=20)
keys = st.sampled_from(["title", "category", "reach", "exposure", "data", "ongoing", "domain", "detected_at",
                        "dedup_key", "group_key", "status", "source_url", "evidence", "labels", "scores", "alerts",
                        "version", "startsAt", "fingerprint", "annotations"])
alertish = st.dictionaries(keys, json_values, max_size=8)


def check(source: str, body: object) -> None:
    try:
        alerts = formats.parse(RULES.sources[source], body, RUBRIC)
    except BadAlert as err:
        assert err.message and "\n" not in err.message
        return
    for a in alerts:
        assert 0 < len(a.title) <= 200 and a.category in RUBRIC.categories
        assert len(a.dedup_key) <= 200 and len(a.group_key) <= 200 and a.status in ("firing", "resolved")
        assert len(a.evidence) <= formats.MAX_EVIDENCE and len(a.labels) <= formats.MAX_LABELS


@settings(max_examples=300, deadline=None)
@given(st.one_of(json_values, alertish, st.builds(lambda a: {"alerts": [a]}, alertish),
                 st.builds(lambda a: {"version": "4", "alerts": [a]}, alertish)))
def test_any_json_is_an_alert_list_or_a_reason(body):
    check("det", body)
    check("am", body)


@given(st.binary(max_size=200))
def test_any_bytes_parse_or_answer_malformed(raw):
    try:
        formats.parse_body(raw)
    except BadAlert as err:
        assert err.message


def test_routes_are_tried_in_order_with_each_kind_of_condition():
    def decide(**fields):
        scores = fields.pop("scores", {})
        base = {"source": "det", "title": "t", "category": "jailbreak", "status": "firing", "labels": {}}
        return RULES.decide({**base, **fields}, scores)

    assert decide(category="data_leakage", title="eval of pii") == ("pii", "declare")  # first match wins
    assert decide(labels={"kind": "block-rate"}, scores={"rate": 0.3}) == ("spike", "declare")
    assert decide(labels={"kind": "block-rate"}, scores={"rate": 0.1}) == ("default", "triage")  # below threshold
    assert decide(labels={"kind": "block-rate"}) == ("default", "triage")  # no score: no match
    assert decide(title="Nightly EVAL regression") == ("evals", "triage")
    no_triage = parse_rules({"sources": RULES.doc.model_dump()["sources"]}, "t.yml", RUBRIC)
    assert no_triage.decide({"source": "det", "title": "t", "labels": {}}, {}) == ("default", "record")


def test_alertmanager_nanosecond_times_and_go_zero_end():
    body = json.loads((Path(__file__).resolve().parents[1] / "examples/alerts/pii-in-output.json").read_text())
    [a] = formats.parse(RULES.sources["am"], body, RUBRIC)
    assert a.detected_at is not None and a.detected_at.microsecond == 512345 and a.ended_at is None
    assert a.dedup_key == "5f1c0a7e2b9d4c33" and a.category == "other"  # no mapping: labels.category is absent
