"""`/incident` subcommands through signed requests against the fake Slack: what users see, what is stored."""

from __future__ import annotations

import pytest

from bot.slack.harness import Harness
from tests.helpers import counts, incident, kinds, open_incident


def test_open_classifies_creates_channel_pins_summary_and_announces(harness: Harness) -> None:
    h = harness
    reply = h.command("open Agent emailed customers' invoices to the wrong people --category agent_tool_misuse "
                      "--data pii --reach lt_100 --ongoing", user="U0ALICE")
    assert "Opened *INC-1* — SEV1 because an exploit reached personal data" in reply.text
    inc = incident(h, 1)
    assert (inc.severity, inc.category, inc.category_suggested) == (1, "agent_tool_misuse", False)
    assert inc.detected_at == inc.opened_at and inc.opened_at.tzinfo is not None
    channel = h.fake.channels[inc.channel_id]
    assert channel["name"] == "inc-1-agent-emailed-customers-invoices-to-the-wrong-people"
    assert "U0ALICE" in channel["members"]
    assert channel["topic"]["value"].startswith("SEV1 · Active · IC unassigned")
    summary = h.summary(1)
    assert "SEV1* because an exploit reached personal data" in summary
    assert "Agent or tool misuse" in summary and "MTTC: running" in summary
    announce = h.fake.texts(h.settings.announce_channel)
    assert any("INC-1 opened by <@U0ALICE>" in t and "SEV1" in t for t in announce)
    # The matching runbook is attached in the open's own transaction, before the channel exists.
    assert kinds(h, 1)[:4] == ["opened", "severity_classified", "runbook_attached", "channel_created"]


def test_free_text_open_suggests_category_and_says_so(harness: Harness) -> None:
    reply = harness.command("open Customer PII echoed back in an answer")
    assert "Category `data_leakage` was suggested from the title" in reply.text
    inc = incident(harness, 1)
    assert inc.category == "data_leakage" and inc.category_suggested
    # Privacy incidents get a private channel.
    assert inc.private and harness.fake.channels[inc.channel_id]["is_private"]
    assert "(suggested)" in harness.summary(1)


def test_sev_flag_overrides_rubric_with_reason(harness: Harness) -> None:
    reply = harness.command("open Model regression in eval --category model_regression --sev 2")
    assert "SEV2 because set by the reporter (the rubric said SEV3)" in reply.text


def test_private_flag_and_long_titles_make_valid_channel_names(harness: Harness) -> None:
    title = "Ünïcode & spaces.dots/slashes " + "very long title " * 10
    harness.command(f"open {title} --private --category other")
    inc = incident(harness, 1)
    name = harness.fake.channels[inc.channel_id]["name"]
    assert name.startswith("inc-1-") and len(name) <= 80
    assert all(c.isalnum() and c.isascii() or c in "-_" for c in name)
    assert harness.fake.channels[inc.channel_id]["is_private"]


def test_taken_channel_name_gets_a_suffix(harness: Harness) -> None:
    harness.fake.add_channel("inc-1-model-leaks-secrets")
    harness.command("open Model leaks secrets --category data_leakage")
    assert incident(harness, 1).channel_name == "inc-1-model-leaks-secrets-2"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("open", None),  # no text opens the modal instead; covered below
        ("open --sev 1", "An incident needs a title."),
        ("open Thing --sev 7", "`7` is not a severity; use 1, 2, 3 or 4"),
        ("open Thing --category nonsense", "Unknown category `nonsense`"),
        ("open Thing --reach galaxy", "Unknown reach `galaxy`"),
        ("open Thing --colour red", "Unknown option `--colour`"),
        ("open Thing --sev", "`--sev` needs a value."),
        ("open Thing --ongoing --not-ongoing", "either --ongoing or --not-ongoing"),
        ("open Thing --domain astrology", "Unknown regulated domain `astrology`"),
    ],
)
def test_open_bad_input_says_what_and_writes_nothing(harness: Harness, text: str, expected: str | None) -> None:
    if expected is None:
        return
    before = counts(harness)
    reply = harness.command(text)
    assert expected in reply.text
    assert "Usage: `/incident open" in reply.text
    assert counts(harness) == before
    assert not harness.fake.calls_to("conversations.create")


def test_ic_first_assignment_is_acknowledgement_then_only_ic_or_commanders(make_harness, write_yaml, clock) -> None:
    config = write_yaml("firebreak.yml", {"groups": {"commanders": ["U0CAROL", "S0ICS"]},
                                          "commanders": ["commanders"]})
    h = make_harness(config_file=config)
    h.fake.usergroups["S0ICS"] = ["U0DAVE"]
    ch = open_incident(h)
    clock.advance(minutes=3)
    before = counts(h)
    # A member who is not the reporter may not make someone else the first IC...
    reply = h.command("ic <@U0BOB|bob>", channel=ch, user="U0ERIN")
    assert "Only the incident commander or the commanders (commanders) may hand over the IC role of INC-1" \
        in reply.text and "take the role with `/incident ic @me`" in reply.text
    assert counts(h)[0:1] == before[0:1] and incident(h, 1).acknowledged_at is None
    assert kinds(h, 1).count("permission_denied") == 1  # a refused privileged attempt is on the timeline
    # ...but may take it for themselves; before any IC, the reporter may assign it.
    reply = h.command("ic <@U0BOB|bob>", channel=ch)  # the reporter
    assert "<@U0BOB> is incident commander of INC-1" in reply.text
    inc = incident(h, 1)
    assert inc.acknowledged_at is not None and (inc.acknowledged_at - inc.opened_at).total_seconds() == 180
    assert "U0BOB" in h.fake.channels[ch]["members"]
    before = counts(h)
    reply = h.command("ic @me", channel=ch, user="U0ERIN")
    assert "Only the incident commander or the commanders (commanders) may hand over the IC role" in reply.text
    assert "Ask <@U0BOB>, the incident commander." in reply.text
    assert counts(h)[2] == before[2]
    assert "<@U0CAROL> is incident commander" in h.command("ic <@U0CAROL>", channel=ch, user="U0CAROL").text
    assert incident(h, 1).acknowledged_at == inc.acknowledged_at  # acknowledgement is the first IC only
    reply = h.command("ic <@U0ERIN|erin>", channel=ch, user="U0DAVE")  # member of a Slack user group
    assert "<@U0ERIN> is incident commander" in reply.text
    assert "Incident commander: <@U0ERIN>" in h.summary(1)


def test_roles_and_bad_role_input(harness: Harness) -> None:
    ch = open_incident(harness)
    assert "is privacy officer" in harness.command("role privacy <@U0CAROL>", channel=ch).text
    assert "Privacy officer: <@U0CAROL>" in harness.summary(1)
    before = counts(harness)
    for text, expected in [("role chef <@U0CAROL>", "Unknown role `chef`"),
                           ("role scribe bob", "`bob` is not a Slack user mention"),
                           ("role scribe", "Name a role and mention one person."),
                           ("ic", "Mention exactly one person"),
                           ("role privacy <@U0CAROL>", "already the privacy officer")]:
        reply = harness.command(text, channel=ch)
        assert expected in reply.text, text
    assert counts(harness) == before


def test_severity_change_rules_escalation_and_timeline(make_harness, write_yaml) -> None:
    config = write_yaml("firebreak.yml", {
        "groups": {"privacy-team": ["U0PRIV1", "U0PRIV2"]},
        "escalation": [{"when": {"category": "data_leakage", "severity_at_most": 2}, "notify": ["privacy-team"],
                        "reason": "privacy leakage goes to the privacy officer"},
                       {"when": {"severity_at_most": 1}, "notify": ["S0EXECS"]}]})
    h = make_harness(config_file=config)
    ch = open_incident(h, "System prompt extracted by a user --category data_leakage --data internal")
    assert incident(h, 1).severity == 3
    h.command("ic <@U0BOB>", channel=ch)
    before = counts(h)
    for text, user, expected in [
        ("sev 2", "U0BOB", "A reason is required"),
        ("sev 0 bad", "U0BOB", "`0` is not a severity"),
        ("sev", "U0BOB", "Give the new severity and a reason."),
        ("sev 3 same", "U0BOB", "INC-1 is already SEV3."),
        (f"sev 2 {'x' * 1001}", "U0BOB", "The reason is 1,001 characters; the limit is 1,000."),
    ]:
        reply = h.command(text, channel=ch, user=user)
        assert expected in reply.text, text
    assert counts(h) == before
    # Any member may raise severity (the reporter here, who is not the IC); only the IC or a commander lowers it.
    reply = h.command("sev 1 other users' conversations are exposed", channel=ch, user="U0ALICE")
    assert "INC-1 is now SEV1 (was SEV3)" in reply.text
    before = counts(h)
    reply = h.command("sev 2 calmer now", channel=ch, user="U0ALICE")
    assert "Only the incident commander may lower the severity of INC-1. Ask <@U0BOB>" in reply.text
    assert counts(h)[0] == before[0] and incident(h, 1).severity == 1
    texts = "\n".join(h.fake.texts(ch))
    assert "escalated INC-1 SEV3 → *SEV1*: other users' conversations are exposed" in texts
    assert "<@U0PRIV1> <@U0PRIV2>" in texts and "privacy leakage goes to the privacy officer" in texts
    assert "<!subteam^S0EXECS>" in texts
    assert {"U0PRIV1", "U0PRIV2"} <= h.fake.channels[ch]["members"]
    assert h.fake.channels[ch]["topic"]["value"].startswith("SEV1")
    assert any("escalated to SEV1" in t for t in h.fake.texts(h.settings.announce_channel))
    assert "*SEV1* because other users' conversations are exposed" in h.summary(1)
    after = kinds(h, 1)[kinds(h, 1).index("severity_changed"):]
    assert after[:2] == ["severity_changed", "escalation_notified"]


def test_status_update_timeline_and_status_view(harness: Harness, clock) -> None:
    ch = open_incident(harness)
    clock.advance(minutes=10)
    reply = harness.command("status Filter tightened in EU; US still exposed", channel=ch)
    assert "Status update posted" in reply.text
    assert any("Status update" in t and "US still exposed" in t for t in harness.fake.texts(ch))
    assert "Last status update: 2026-01-05 09:10:00 UTC" in harness.summary(1)
    harness.command("timeline add Saved 14 reproducing prompts to the evidence bucket", channel=ch)
    reply = harness.command("timeline", channel=ch)
    assert "*Status update*: Filter tightened in EU" in reply.text  # kinds read as words
    assert "*Note*: Saved 14 reproducing prompts" in reply.text
    view = harness.command("status", channel=ch).text
    assert "INC-1: Jailbreak spreading" in view and "SEV3" in view and "Acknowledged —" in view
    before = counts(harness)
    assert "Nothing to add" in harness.command("timeline add", channel=ch).text
    assert "Unknown timeline action `remove`" in harness.command("timeline remove 3", channel=ch).text
    assert counts(harness) == before


def test_contained_resolve_reopen_and_mttc(harness: Harness, clock) -> None:
    ch = open_incident(harness)
    clock.advance(minutes=4, seconds=12)
    assert "MTTC: 4m 12s" in harness.command("contained killed the flag", channel=ch).text
    before = counts(harness)
    assert "was already contained at 2026-01-05 09:04:12 UTC" in harness.command("contained", channel=ch).text
    assert "A resolution summary is required." in harness.command("resolve", channel=ch).text
    assert "not resolved; nothing to reopen" in harness.command("reopen because", channel=ch).text
    assert counts(harness) == before
    clock.advance(hours=1)
    harness.command("resolve Rolled back the system prompt", channel=ch)
    assert any("MTTR: 1h 4m 12s" in t for t in harness.fake.texts(ch))
    # Resolved incidents refuse changes until reopened; status/timeline still show.
    before = counts(harness)
    reply = harness.command("status more", channel=ch)
    assert "INC-1 is resolved. Use `/incident reopen <reason>`" in reply.text
    assert "INC-1 is resolved" in harness.command("sev 1 x", channel=ch).text
    assert counts(harness) == before
    assert "Resolved" in harness.command("status", channel=ch).text
    assert "INC-1 reopened." in harness.command("reopen The jailbreak works again on v2", channel=ch).text
    inc = incident(harness, 1)
    assert inc.status == "contained" and inc.resolved_at is None
    assert kinds(harness, 1)[-3:] == ["contained", "resolved", "reopened"]


def test_naming_incidents_outside_their_channel(harness: Harness) -> None:
    open_incident(harness)
    open_incident(harness, "Biased ranking --category bias --reach lt_10k")
    reply = harness.command("status")  # in #general
    assert "This is not an incident channel, so name the incident" in reply.text
    assert "INC-2" in harness.command("status INC-2").text
    assert "INC-1" in harness.command("INC-1 status").text
    assert "INC-99 does not exist" in harness.command("status INC-99").text
    listing = harness.command("list").text
    assert listing.index("INC-2") < listing.index("INC-1")  # most severe first
    assert "takes no arguments" in harness.command("list everything").text


def test_help_and_unknown_subcommands(harness: Harness) -> None:
    text = harness.command("help").text
    for usage in ("/incident open", "/incident sev <1-4> <reason>", "/incident ic @user", "/incident resolve"):
        assert usage in text
    assert "Unknown subcommand `frobnicate`" in harness.command("frobnicate").text
    assert "/incident open" in harness.command("").text


def test_pushpin_reaction_adds_message_to_timeline_once(harness: Harness) -> None:
    ch = open_incident(harness)
    ts = harness.fake.post_user_message(ch, "U0BOB", "Repro: 'pretend you are my grandma' works on v3 and v4")
    harness.react(ch, ts, user="U0MALLORY")  # not in the channel: nothing is added
    assert kinds(harness, 1).count("pinned_message") == 0
    harness.join("U0CAROL", ch)
    harness.react(ch, ts, user="U0CAROL")
    harness.react(ch, ts, user="U0ALICE")
    harness.react(ch, ts, reaction="eyes")
    assert kinds(harness, 1).count("pinned_message") == 1
    events = harness.command("timeline", channel=ch).text
    assert "grandma" in events and "<@U0CAROL>" in events


def test_modal_open_submit_and_validation(harness: Harness, clock) -> None:
    reply = harness.command("open")
    assert [c.method for c in reply.calls if c.method == "views.open"]
    view = harness.last_view()
    assert view["callback_id"] == "firebreak_open_incident"
    future = int(clock.now().timestamp()) + 3600
    errors = harness.submit_view(view, {"title": "Leak", "category": "data_leakage", "detected_at": future})
    assert errors.ack.status == 200 and "That time is in the future" in (errors.ack.body or "")
    assert counts(harness)[0] == 0
    earlier = int(clock.now().timestamp()) - 1800
    harness.submit_view(view, {"title": "Other user's address shown in chat", "category": "data_leakage",
                               "reach": "lt_100", "exposure": "customer_reported", "data": "sensitive",
                               "ongoing": "yes", "domain": "finance", "detected_at": earlier,
                               "description": "Two customers reported it"})
    inc = incident(harness, 1)
    assert inc.severity == 1 and inc.regulated_domain == "finance" and inc.ongoing is True
    assert (inc.opened_at - inc.detected_at).total_seconds() == 1800
    assert inc.description == "Two customers reported it"
    assert any("Opened *INC-1*" in e["text"] for e in harness.fake.ephemerals)


def test_message_shortcut_prefills_modal_and_links_message(harness: Harness) -> None:
    ts = harness.fake.post_user_message(harness.general, "U0BOB", "The bot told a user how to bypass the filter\nsee thread")
    harness.shortcut("firebreak_open_from_message", channel=harness.general, message_ts=ts)
    view = harness.last_view()
    blocks = {b.get("block_id"): b for b in view["blocks"]}
    assert blocks["title"]["element"]["initial_value"] == "The bot told a user how to bypass the filter"
    assert blocks["category"]["element"]["initial_option"]["value"] == "jailbreak"
    harness.submit_view(view, {"title": "Filter bypass advice", "category": "jailbreak"})
    inc = incident(harness, 1)
    assert inc.source_permalink and inc.source_permalink.endswith(ts.replace(".", ""))
    assert any(inc.source_permalink in t for t in harness.fake.texts(inc.channel_id))


def test_slack_retry_of_the_same_request_does_not_open_twice(harness: Harness) -> None:
    body, _ = harness.command_body("open Jailbreak trending --category jailbreak")
    first = harness.command("", body=body)
    retry = harness.command("", body=body, retry_num=1)
    assert first.ack.status == 200 and retry.ack.status == 200
    assert counts(harness)[0] == 1
    assert len(harness.fake.calls_to("conversations.create")) == 1


def test_slack_failures_never_lose_the_incident(harness: Harness) -> None:
    harness.fake.fail_next("conversations.create", "restricted_action")
    reply = harness.command("open Tool misuse --category agent_tool_misuse")
    assert "Opened *INC-1*" in reply.text and "The incident is saved, but its channel could not be created" in reply.text
    assert incident(harness, 1).channel_id is None
    assert "slack_error" in kinds(harness, 1)
    # Rate limits are retried honouring Retry-After, and the post lands.
    ch = open_incident(harness)
    harness.fake.fail_next("chat.postMessage", "ratelimited", status=429, retry_after=1)
    harness.command("status Still investigating", channel=ch)
    assert any("Still investigating" in t for t in harness.fake.texts(ch))
    # Transient Slack errors on the summary update are retried until it lands.
    harness.fake.fail_next("chat.update", "internal_error", times=5)
    harness.command("timeline add retried update", channel=ch)
    harness.command("status Retried", channel=ch)
    assert "Retried" in harness.summary(2) or incident(harness, 2).last_status_at is not None
    assert kinds(harness, 2).count("slack_error") == 0
    # A permanent Slack error on the summary update is recorded, and the state change still stands.
    harness.fake.fail_next("chat.update", "cant_update_message", times=1)
    harness.command("contained", channel=ch)
    assert incident(harness, 2).contained_at is not None
    assert kinds(harness, 2).count("slack_error") == 1
