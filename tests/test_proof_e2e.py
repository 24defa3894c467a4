"""Issue 9 end to end: a reproduction case, a real lever through the fake LaunchDarkly (seen by the real SDK),
an automatic probe against the model stand-in, and containment decided by the probe."""

from __future__ import annotations

import pytest

from bot.slack.harness import Harness
from bot.store.models import ContainmentAction
from tests.containment_support import LEVERS
from tests.evidence_fixtures import add_case, evidence_config, harmful_case, model  # noqa: F401 - fixture
from tests.helpers import incident, kinds

QUICK_LEVERS = {"levers": [dict(lever, confirm=False) for lever in LEVERS["levers"]]}


@pytest.fixture
def proof_harness(db_url, make_ld, write_yaml, model) -> Harness:  # noqa: F811 - the model fixture
    config = write_yaml("firebreak.yml", evidence_config(model))
    return make_ld(levers=QUICK_LEVERS, database_url=db_url, config_file=config)


def open_with_case(h: Harness) -> str:
    h.command("open Agent browsing leaks synthesis steps --category agent_tool_misuse --sev 1")
    channel = h.incident_channel(1)
    add_case(h, channel, harmful_case())
    assert "repro_added" in kinds(h, 1)
    return channel


def test_lever_that_stops_the_harm_contains_at_the_passing_probe(proof_harness, model, fake_ld, clock) -> None:  # noqa: F811
    h = proof_harness
    channel = open_with_case(h)
    model.switch("refusing")  # the lever works: the model now refuses the reproduction
    clock.advance(minutes=6, seconds=30)
    h.command("contain kill-browsing agent exfiltrates data", channel=channel)
    assert fake_ld.env("agent-browsing")["on"] is False  # the real PATCH happened
    assert model.calls, "the probe replayed the case against the model"
    inc = incident(h, 1)
    assert inc.contained_at == clock.now()  # the time of the passing probe
    events = kinds(h, 1)
    assert events.index("lever_verified") < events.index("probe_run") < events.index("contained")
    texts = "\n".join(h.fake.texts(channel))
    assert "1 of 1 reproduction" in texts and "MTTC: 6m 30s" in texts
    assert "MTTC: 6m 30s" in h.summary(1)


def test_lever_that_does_not_stop_the_harm_leaves_the_incident_uncontained(proof_harness, model, fake_ld,  # noqa: F811
                                                                          clock) -> None:
    h = proof_harness
    channel = open_with_case(h)
    model.switch("harmful")  # the flag flips, but the model still answers the jailbreak
    h.command("contain kill-browsing", channel=channel)
    assert fake_ld.env("agent-browsing")["on"] is False
    assert incident(h, 1).contained_at is None
    assert "lever_not_effective" in kinds(h, 1) and "contained" not in kinds(h, 1)
    assert any("applied but not effective" in t for t in h.fake.texts(channel))
    with h.ctx.db.session() as s:
        assert s.query(ContainmentAction).one().verified_at is not None  # the flag itself was verified
    # A second lever that does stop it contains the incident.
    model.switch("refusing")
    clock.advance(minutes=2)
    h.command("contain strict-moderation", channel=channel)
    assert incident(h, 1).contained_at == clock.now()
