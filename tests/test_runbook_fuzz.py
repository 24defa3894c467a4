"""Whatever YAML an organization writes, the loader answers with a runbook or a list of problems — never a
crash (which would stop the bot with a traceback instead of saying what is wrong)."""

from __future__ import annotations

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.runbooks.loader import Problem, parse_runbook

CATEGORIES = ["jailbreak", "prompt_injection", "other"]
scalars = st.one_of(st.none(), st.booleans(), st.integers(-5, 100), st.text(max_size=12),
                    st.sampled_from(["ic", "safety", "15m", "sev1", "triage", "contain", "jailbreak", "x"]))
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.sampled_from(
        ["key", "title", "applies_to", "categories", "severities", "phases", "phase", "steps", "id", "text",
         "owner", "due", "required", "lever", "auto", "sev1", "sev2"]), inner, max_size=5)), max_leaves=25)
step = st.fixed_dictionaries({"id": scalars, "text": scalars, "owner": scalars},
                             optional={"due": st.one_of(scalars, st.dictionaries(scalars, scalars, max_size=3)),
                                       "required": scalars, "lever": scalars, "severities": values})
runbooks = st.fixed_dictionaries(
    {"key": scalars, "title": scalars,
     "applies_to": st.one_of(values, st.fixed_dictionaries({"categories": values}, optional={"severities": values})),
     "phases": st.one_of(values, st.lists(st.fixed_dictionaries({"phase": scalars, "steps": st.one_of(
         values, st.lists(step, max_size=3))}), max_size=3))},
    optional={"auto": scalars, "extra": values})


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(runbooks, values))
def test_loader_never_crashes(data) -> None:
    text = yaml.safe_dump(data, sort_keys=False)
    problems: list[Problem] = []
    runbook = parse_runbook(text, "fuzz.yml", CATEGORIES, problems=problems)
    assert (runbook is None) == bool(problems)
    for p in problems:
        assert str(p).startswith("fuzz.yml")
