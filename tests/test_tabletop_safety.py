"""What an exercise may reach: real people on the escalation path, and real model endpoints for evidence.

Both are off unless the scenario opts in (`page_real_people`, `allow_real_endpoints`)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.core import timeline
from bot.evidence.probe import OPT_IN_KIND
from bot.fakes.model_endpoint import FakeModelEndpoint
from bot.slack.harness import Harness
from bot.store.models import PageState
from bot.tabletop import runner
from bot.tabletop.references import EXERCISE_LEVERS
from bot.tabletop.scenario import load_catalog
from tests.evidence_fixtures import add_case, evidence_config, harmful_case, model  # noqa: F401 - fixture

SANDBOX = "C0SANDBOX"
FACIL = "U0FACIL"
ONCALL = ["U0ONCALL1", "U0ONCALL2"]


def scenario(key: str, **changes: Any) -> dict[str, Any]:
    data = load_catalog().get("jailbreak-viral").snapshot()
    data.update(key=key, **changes)
    return data


@pytest.fixture
def make(make_harness: Callable[..., Harness], write_yaml, tmp_path: Path, db_url: str) -> Callable[..., Harness]:
    def build(extra_config: dict[str, Any] | None = None) -> Harness:
        directory = tmp_path / "scenarios"
        directory.mkdir(exist_ok=True)
        for key, changes in {"drill-quiet": {}, "drill-paging": {"page_real_people": True},
                             "drill-probing": {"allow_real_endpoints": True}}.items():
            (directory / f"{key}.yml").write_text(yaml.safe_dump(scenario(key, **changes)))
        config = {"sandbox_channels": ["tabletop-*"], "groups": {"safety-oncall": ONCALL},
                  # jailbreak-viral opens at SEV2: this rule matches on open and again at SEV1.
                  "escalation": [{"when": {"category": "jailbreak", "severity_at_most": 2},
                                  "notify": ["safety-oncall", "S0SAFETY"], "reason": "safety on-call"}],
                  **(extra_config or {})}
        h = make_harness(config_file=write_yaml("config.yml", config), database_url=db_url,
                         scenarios_dir=directory, levers_file=EXERCISE_LEVERS)
        h.fake.add_channel("tabletop-drills", channel_id=SANDBOX, members=["U0MAYA", FACIL])
        return h

    return build


def kinds(h: Harness, n: int, kind: str) -> list:
    with h.ctx.db.session() as s:
        return timeline.events(s, n, kinds=[kind])


def invited(h: Harness) -> set[str]:
    return {u for c in h.fake.calls_to("conversations.invite") for u in str(c.params.get("users", "")).split(",")}


def all_texts(h: Harness) -> str:
    return "\n".join(m.text for ch in h.fake.channels for m in h.fake.history(ch))


def test_exercise_never_invites_or_mentions_the_escalation_path(make) -> None:
    h = make()
    h.command("tabletop start drill-quiet", user=FACIL, channel=SANDBOX)
    channel = h.incident_channel(1)
    h.command("ic <@U0MAYA>", user="U0MAYA", channel=channel)
    assert "INC-1 is now SEV1" in h.command("sev 1 trending publicly", user="U0MAYA", channel=channel).text
    # Nobody on the path was invited, mentioned or pinged as a group, in any channel.
    assert not invited(h) & set(ONCALL)
    assert not set(ONCALL) & h.fake.channels[channel]["members"]
    text = all_texts(h)
    assert "U0ONCALL" not in text and "S0SAFETY" not in text
    assert kinds(h, 1, "escalation_notified") == []
    with h.ctx.db.session() as s:
        state = s.get(PageState, 1)
        assert state is None or state.exercise_pages_allowed is False
    suppressed = kinds(h, 1, "escalation_suppressed")
    assert [(e.data["initial"], e.data["count"], e.data["reasons"]) for e in suppressed] == [
        (True, 3, ["safety on-call"]), (False, 3, ["safety on-call"])]
    notes = [t for t in h.fake.texts(channel) if "would now notify" in t]
    assert len(notes) == 2 and all(t.startswith("[EXERCISE]") for t in notes)
    assert "In a real SEV1 incident the escalation path (safety on-call) would now notify 3 people or groups" \
        in notes[1]
    # The same config pages people for a real incident.
    h.command("open A real jailbreak --category jailbreak --sev 2", user="U0MAYA")
    assert set(ONCALL) <= invited(h)
    assert [e.data["targets"] for e in kinds(h, 2, "escalation_notified")] == [
        ["@U0ONCALL1 @U0ONCALL2 @S0SAFETY"]]  # ids, not Slack markup, on the timeline


def test_exercise_pages_when_the_scenario_opts_in(make) -> None:
    h = make()
    h.command("tabletop start drill-paging", user=FACIL, channel=SANDBOX)
    channel = h.incident_channel(1)
    with h.ctx.db.session() as s:
        assert runner.pages_allowed(s, 1) is True
        assert s.get(PageState, 1).exercise_pages_allowed is True  # the scheduler's pager may page too
    # On open (before the run row exists) the scenario's opt-in is passed through.
    assert set(ONCALL) <= invited(h) and set(ONCALL) <= h.fake.channels[channel]["members"]
    assert len(kinds(h, 1, "escalation_notified")) == 1 and kinds(h, 1, "escalation_suppressed") == []
    h.command("ic <@U0MAYA>", user="U0MAYA", channel=channel)
    assert "INC-1 is now SEV1" in h.command("sev 1 trending publicly", user="U0MAYA", channel=channel).text
    notified = kinds(h, 1, "escalation_notified")
    assert len(notified) == 2 and notified[1].data["targets"] == ["@U0ONCALL1 @U0ONCALL2 @S0SAFETY"]
    mention = [t for t in h.fake.texts(channel) if "you are on the escalation path" in t]
    assert mention and all(t.startswith("[EXERCISE]") for t in mention)


def test_organization_may_let_every_exercise_page(make) -> None:
    h = make({"scheduler": {"page_exercises": True}})
    h.command("tabletop start drill-quiet", user=FACIL, channel=SANDBOX)
    assert set(ONCALL) <= invited(h)
    assert len(kinds(h, 1, "escalation_notified")) == 1 and kinds(h, 1, "escalation_suppressed") == []


@pytest.mark.parametrize(("key", "calls"), [("drill-quiet", 0), ("drill-probing", 1)])
def test_evidence_reaches_a_real_endpoint_only_when_the_scenario_opts_in(make, model: FakeModelEndpoint,  # noqa: F811
                                                                         key: str, calls: int) -> None:
    h = make(evidence_config(model))  # `prod-chat` is a real endpoint (not exercise_safe)
    h.command(f"tabletop start {key}", user=FACIL, channel=SANDBOX)
    channel = h.incident_channel(1)
    assert len(kinds(h, 1, OPT_IN_KIND)) == calls
    add_case(h, channel, harmful_case())
    model.switch("refusing")
    # The lever is pulled through the containment layer: a dry run, whose proof checks still run.
    reply = h.command("contain emergency-filter", user="U0MAYA", channel=channel)
    assert "Dry run of `emergency-filter` recorded; nothing was sent." in reply.text
    assert len(model.chat_calls()) == calls
    probe_said = "\n".join(t for t in h.fake.texts(channel) if "Probe after" in t)
    assert probe_said.startswith("[EXERCISE]")
    assert ("is a real endpoint and this is an exercise; not called" in probe_said) is not bool(calls), probe_said
    briefing = [m for m in h.fake.history(channel) if m.text.endswith("Tabletop exercise: Jailbreak campaign going viral")]
    assert ("evidence probes may call real model endpoints" in str(briefing[0].blocks)) is bool(calls)
    assert kinds(h, 1, "contained") == []  # a dry run never contains, whatever the probe says
