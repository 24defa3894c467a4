"""The AI-safety severity rubric: a table of cases per category, properties, suggestions, validation."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.core.errors import ConfigError
from bot.core.severity import Inputs, load_rules, parse_rubric

RULES = load_rules()
REACH = list(RULES.scale("reach"))
EXPOSURE = list(RULES.scale("exposure"))
DATA = list(RULES.scale("data"))
CATEGORIES = list(RULES.categories)


@pytest.mark.parametrize(
    ("inputs", "severity", "reason"),
    [
        (Inputs("data_leakage", data="sensitive", ongoing=True), 1, "sensitive PII or credentials were exposed"),
        (Inputs("data_leakage", data="pii", reach="single_user", exposure="customer_reported"), 2,
         "personal data was exposed"),
        (Inputs("data_leakage", data="internal", reach="single_user", exposure="internal", ongoing=False), 3,
         "start at SEV3"),
        (Inputs("prompt_injection", data="pii", reach="single_user"), 1, "an exploit reached personal data"),
        (Inputs("prompt_injection", data="internal", exposure="internal"), 3, "start at SEV3"),
        (Inputs("agent_tool_misuse", ongoing=True, reach="lt_100"), 1, "unsafe tool actions"),
        (Inputs("agent_tool_misuse", ongoing=False, reach="single_user", exposure="internal", data="none"), 4,
         "near miss"),
        (Inputs("harmful_content", exposure="public", ongoing=True), 1, "spreading publicly"),
        (Inputs("harmful_content", exposure="public", ongoing=False), 2, "public or on social media"),
        (Inputs("jailbreak", exposure="public", ongoing=True, reach="public"), 1, "spreading publicly"),
        (Inputs("jailbreak", reach="single_user", exposure="internal", data="none", ongoing=False), 4, "near miss"),
        (Inputs("jailbreak"), 3, "no impact details"),
        (Inputs("hallucination_high_stakes", regulated_domain="health", ongoing=True, reach="lt_100"), 1,
         "regulated domain"),
        (Inputs("hallucination_high_stakes", regulated_domain="finance", exposure="customer_reported"), 2,
         "customers in a regulated domain"),
        (Inputs("bias", reach="lt_10k"), 2, "it reached many users"),
        (Inputs("bias", reach="lt_100", exposure="internal"), 3, "start at SEV3"),
        (Inputs("model_regression", reach="public", ongoing=True), 1, "public scale"),
        (Inputs("model_regression", ongoing=True, exposure="customer_reported"), 2, "customers are affected"),
        (Inputs("other"), 3, "Other incidents start at SEV3"),
    ],
)
def test_rubric_table(inputs: Inputs, severity: int, reason: str) -> None:
    result = RULES.classify(inputs)
    assert result.severity == severity
    assert reason in result.explain()
    assert result.explain().startswith(f"SEV{severity} because ")


maybe = lambda values: st.one_of(st.none(), st.sampled_from(values))  # noqa: E731


@settings(max_examples=300, deadline=None)
@given(
    category=st.sampled_from(CATEGORIES), reach=maybe(REACH), exposure=maybe(EXPOSURE), data=maybe(DATA),
    ongoing=st.one_of(st.none(), st.booleans()), domain=maybe(RULES.rubric.regulated_domains),
    key=st.sampled_from(["reach", "exposure", "data"]),
)
def test_more_reach_exposure_or_data_never_lowers_severity(category, reach, exposure, data, ongoing, domain,
                                                           key) -> None:
    base = Inputs(category, reach, exposure, data, ongoing, domain)
    scale = {"reach": REACH, "exposure": EXPOSURE, "data": DATA}[key]
    # Walk the scale from least to most with everything else fixed: a lower number is more severe,
    # so each step up may keep or raise the severity, never lower it.
    severities = [RULES.classify(Inputs(**{**base.__dict__, key: value})).severity for value in scale]
    assert all(later <= earlier for earlier, later in zip(severities, severities[1:], strict=False)), severities


@settings(max_examples=200, deadline=None)
@given(category=st.sampled_from(CATEGORIES), reach=maybe(REACH), exposure=maybe(EXPOSURE), data=maybe(DATA),
       ongoing=st.one_of(st.none(), st.booleans()))
def test_every_result_is_a_severity_with_reasons(category, reach, exposure, data, ongoing) -> None:
    result = RULES.classify(Inputs(category, reach, exposure, data, ongoing))
    assert result.severity in (1, 2, 3, 4)
    assert result.reasons and all(r.strip() for r in result.reasons)


@pytest.mark.parametrize(
    ("text", "category"),
    [
        ("Customer PII echoed back in an answer", "data_leakage"),
        ("Jailbreak prompt spreading on social media", "jailbreak"),
        ("Indirect prompt injection via retrieved document", "prompt_injection"),
        ("Agent purchased items without approval", "agent_tool_misuse"),
        ("Assistant invented a refund policy and dosage advice", "hallucination_high_stakes"),
        ("Safety regression after the new model release", "model_regression"),
        ("Something odd happened", "other"),
    ],
)
def test_category_suggested_from_text(text: str, category: str) -> None:
    assert RULES.suggest_category(text) == category


def test_invalid_rubric_names_file_and_key() -> None:
    data = {"scales": {"reach": {"a": "A"}, "exposure": {"b": "B"}, "data": {"c": "C"}},
            "regulated_domains": [], "categories": {"other": {"label": "Other"}},
            "rules": [{"severity": 1, "when": {"reach_at_least": "huge"}, "reason": "x"}],
            "mttc_targets": {1: "1h", 2: "4h", 3: "soon", 4: "72h"}}
    with pytest.raises(ConfigError) as err:
        parse_rubric(data, "org/severity.yml")
    message = str(err.value)
    assert "org/severity.yml" in message
    assert "rules[0].when.reach_at_least: unknown value `huge`" in message
    assert "mttc_targets.3: `soon` is not a duration" in message


def test_rubric_rejects_unknown_keys(write_yaml) -> None:
    path = write_yaml("rules.yml", {"scales": {}, "rules": [], "colour": "red"})
    with pytest.raises(ConfigError) as err:
        load_rules(path)
    assert str(path) in str(err.value)
    assert "colour" in str(err.value)


def test_organization_can_tune_the_rubric(write_yaml, make_harness) -> None:
    from importlib import resources

    import yaml

    data = yaml.safe_load(resources.files("bot.core").joinpath("severity.yml").read_text())
    data["categories"]["bias"]["base"] = 2
    path = write_yaml("severity.yml", data)
    h = make_harness(severity_rules_file=path)
    reply = h.command("open Biased loan decisions --category bias")
    assert "SEV2 because Bias or unfair outcome incidents start at SEV2" in reply.text
