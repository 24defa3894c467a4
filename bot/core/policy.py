"""Who may do what to an incident: one policy, rules as data, decided in one place.

Every transport (slash commands, buttons, modals, the console, the scheduler's buttons) asks `Policy.decide`
before it acts; none decides on its own. The rules are a table of action -> the subjects any one of whom may
take it; an organization overrides any row under `permissions:` in FIREBREAK_CONFIG.

Facts that live outside the database (is this person in the incident channel? in a commander user group?)
come from a `Directory` the transport provides. When a fact needed for the decision cannot be had (Slack
errors, a group lookup failing), the answer is a refusal: "could not verify that you may …, try again". Never
an allowance.

Defaults, matching how responders work:
- seeing an incident's details and writing to it need membership of its channel (a public incident's channel
  anyone may join; a private one only by invitation);
- raising severity is open to every member (escalation is never blocked; it is always on the timeline with
  who and why); lowering it, resolving, reopening, reverting a lever and repairing need the IC or a commander;
- before an IC exists, the reporter and commanders may do what the IC may;
- anyone who is a member may take an unfilled IC role for themselves; handing it over or assigning a role to
  someone else needs the IC or a commander; nobody is invited into a private channel except by someone
  allowed to assign roles;
- a lever with an access list may be pulled only by those on it; others by members;
- marking a regulatory reporting clock done or waived needs the IC, the privacy officer or a commander.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

from bot.core.text import Channel, Msg, User


class Action(StrEnum):
    VIEW = "view"                        # status, timeline, levers, repro cases, action items, exports
    OPEN = "open"
    TAKE_IC = "take_ic"                  # become IC while there is none
    ASSIGN_IC = "assign_ic"              # hand the IC role over, or make someone else IC
    TAKE_ROLE = "take_role"              # take a role other than IC for yourself
    ASSIGN_ROLE = "assign_role"          # give a role other than IC to someone else
    RAISE_SEVERITY = "raise_severity"
    LOWER_SEVERITY = "lower_severity"
    POST_STATUS = "post_status"
    ADD_TIMELINE = "add_timeline"
    RUNBOOK_STEP = "runbook_step"        # done / skip / assign a checklist step, attach a runbook
    MARK_CONTAINED = "mark_contained"
    RESOLVE = "resolve"
    REOPEN = "reopen"
    PULL_LEVER = "pull_lever"
    REVERT_LEVER = "revert_lever"
    REPORT_CLOCK = "report_clock"        # start a regulatory reporting clock
    REPORT_CLOCK_DONE = "report_clock_done"  # record a clock's report as done, or waive it
    ADD_EVIDENCE = "add_evidence"        # repro cases, probes
    REVEAL_EVIDENCE = "reveal_evidence"
    ACTION_ITEMS = "action_items"
    TABLETOP = "tabletop"                # control (next / pause / resume / end) a running exercise
    REPAIR = "repair"                    # re-run Slack steps that failed (`/incident repair`)


class Subject(StrEnum):
    ANYONE = "anyone"
    MEMBER = "member"                    # of the incident's channel
    REPORTER = "reporter"
    IC = "ic"                            # the incident commander; before there is one, the reporter
    ROLE_HOLDER = "role_holder"          # holds any role on the incident
    SCRIBE = "scribe"
    COMMS = "comms"
    SAFETY = "safety"
    SECURITY = "security"
    PRIVACY = "privacy"                  # the incident's privacy officer role, or the configured privacy officers
    COMMANDERS = "commanders"            # the configured commanders (`commanders:` in FIREBREAK_CONFIG)
    LEVER_ACL = "lever_acl"              # on the lever's own access list (`allowed:` in the lever file)


A, S = Action, Subject
DEFAULT_RULES: dict[Action, tuple[Subject, ...]] = {
    A.VIEW: (S.MEMBER,),
    A.OPEN: (S.ANYONE,),
    A.TAKE_IC: (S.MEMBER, S.REPORTER, S.COMMANDERS),
    A.ASSIGN_IC: (S.IC, S.COMMANDERS),
    A.TAKE_ROLE: (S.MEMBER,),
    A.ASSIGN_ROLE: (S.IC, S.COMMANDERS),
    A.RAISE_SEVERITY: (S.MEMBER, S.COMMANDERS),
    A.LOWER_SEVERITY: (S.IC, S.COMMANDERS),
    A.POST_STATUS: (S.MEMBER,),
    A.ADD_TIMELINE: (S.MEMBER,),
    A.RUNBOOK_STEP: (S.MEMBER,),
    A.MARK_CONTAINED: (S.MEMBER,),
    A.RESOLVE: (S.IC, S.COMMANDERS),
    A.REOPEN: (S.IC, S.COMMANDERS),
    A.PULL_LEVER: (S.LEVER_ACL,),
    A.REVERT_LEVER: (S.IC, S.COMMANDERS),
    A.REPORT_CLOCK: (S.MEMBER,),
    A.REPORT_CLOCK_DONE: (S.IC, S.PRIVACY, S.COMMANDERS),
    A.ADD_EVIDENCE: (S.MEMBER,),
    A.REVEAL_EVIDENCE: (S.MEMBER,),
    A.ACTION_ITEMS: (S.MEMBER,),
    A.TABLETOP: (S.REPORTER, S.COMMANDERS),   # an exercise's reporter is its facilitator
    A.REPAIR: (S.IC, S.COMMANDERS),
}
# Refused attempts at these are facts on the timeline (`permission_denied`) and a log line.
PRIVILEGED = frozenset({A.ASSIGN_IC, A.ASSIGN_ROLE, A.LOWER_SEVERITY, A.RESOLVE, A.REOPEN, A.PULL_LEVER,
                        A.REVERT_LEVER, A.REPORT_CLOCK_DONE, A.REVEAL_EVIDENCE, A.REPAIR, A.TAKE_IC, A.TABLETOP})
# What each action reads as in a sentence ("may resolve INC-7").
VERBS: dict[Action, str] = {
    A.VIEW: "see", A.OPEN: "open incidents", A.TAKE_IC: "take the IC role of", A.ASSIGN_IC: "hand over the IC role of",
    A.TAKE_ROLE: "take a role on", A.ASSIGN_ROLE: "assign roles on", A.RAISE_SEVERITY: "raise the severity of",
    A.LOWER_SEVERITY: "lower the severity of", A.POST_STATUS: "post status updates on",
    A.ADD_TIMELINE: "add to the timeline of", A.RUNBOOK_STEP: "work the runbook of",
    A.MARK_CONTAINED: "mark as contained", A.RESOLVE: "resolve", A.REOPEN: "reopen",
    A.PULL_LEVER: "pull this lever on", A.REVERT_LEVER: "revert levers on", A.REPORT_CLOCK: "start reporting clocks on",
    A.REPORT_CLOCK_DONE: "record reports as done on", A.ADD_EVIDENCE: "add evidence to",
    A.REVEAL_EVIDENCE: "reveal the evidence of", A.ACTION_ITEMS: "manage the action items of",
    A.TABLETOP: "control the exercise", A.REPAIR: "repair",
}


class FactsUnavailable(Exception):
    """A fact the decision needs could not be had (Slack errored, a group lookup failed)."""


class Directory(Protocol):
    """Facts that live outside the database. Raise FactsUnavailable rather than guess."""

    def is_member(self, channel_id: str, user_id: str) -> bool: ...
    def in_groups(self, names: list[str], user_id: str) -> bool: ...


@dataclass(frozen=True)
class AccessFacts:
    """What the policy knows of an incident (read from the database by the caller)."""

    ref: str
    channel_id: str | None
    private: bool
    reporter_id: str
    roles: Mapping[str, str] = field(default_factory=dict)   # role -> user id
    is_exercise: bool = False

    @property
    def ic(self) -> str | None:
        return self.roles.get("ic")


@dataclass(frozen=True)
class Decision:
    allowed: bool
    action: Action
    reason: Msg | None = None   # why refused and how to proceed, fit for the person who asked
    unverified: bool = False    # refused because a fact could not be had (try again)

    def __bool__(self) -> bool:
        return self.allowed


@dataclass
class Policy:
    rules: dict[Action, tuple[Subject, ...]]
    commanders: list[str]
    privacy_officers: list[str]
    commander_label: str = "a commander"

    @classmethod
    def from_config(cls, overrides: Mapping[str, list[str]] | None, *, commanders: list[str],
                    privacy_officers: list[str]) -> Policy:
        rules = dict(DEFAULT_RULES)
        for action, subjects in (overrides or {}).items():
            rules[Action(action)] = tuple(Subject(s) for s in subjects)
        label = ("the commanders (" + ", ".join(commanders) + ")") if commanders else "a commander"
        return cls(rules=rules, commanders=list(commanders), privacy_officers=list(privacy_officers),
                   commander_label=label)

    # ----- deciding --------------------------------------------------------------------------------------
    def decide(self, action: Action, user_id: str, incident: AccessFacts | None, directory: Directory | None,
               *, lever_acl: list[str] | None = None, lever_roles: list[str] | None = None) -> Decision:
        """May `user_id` take `action` on `incident`? `lever_acl`: the lever's access list (names and groups);
        `lever_roles`: incident roles on that list."""
        subjects = self.rules.get(action, ())
        unknown = False
        for subject in subjects:
            try:
                if self._holds(subject, user_id, incident, directory, lever_acl, lever_roles):
                    return Decision(True, action)
            except FactsUnavailable:
                unknown = True
        verb = VERBS[action]
        what = f"{verb} {incident.ref}" if incident is not None and action != A.TABLETOP else verb
        if incident is not None and incident.private and not unknown:
            try:  # an outsider of a private incident learns only that it is private
                if not self._holds(S.MEMBER, user_id, incident, directory, None, None):
                    return Decision(False, action, self.join_hint(incident, what))
            except FactsUnavailable:
                unknown = True
        if unknown:
            return Decision(False, action, Msg.of("firebreak could not verify that you may {what}: Slack did not "
                                                  "answer a membership question. Try again in a moment.", what=what),
                            unverified=True)
        return Decision(False, action, self.refusal(action, what, subjects, incident, lever_acl, lever_roles))

    def _holds(self, subject: Subject, user_id: str, incident: AccessFacts | None, directory: Directory | None,
               lever_acl: list[str] | None, lever_roles: list[str] | None) -> bool:
        roles = dict(incident.roles) if incident is not None else {}
        match subject:
            case S.ANYONE:
                return True
            case S.REPORTER:
                return incident is not None and incident.reporter_id == user_id
            case S.IC:
                if incident is None:
                    return False
                return roles.get("ic") == user_id if "ic" in roles else incident.reporter_id == user_id
            case S.ROLE_HOLDER:
                return user_id in roles.values()
            case S.SCRIBE | S.COMMS | S.SAFETY | S.SECURITY:
                return roles.get(subject.value) == user_id
            case S.PRIVACY:
                if roles.get("privacy") == user_id:
                    return True
                return bool(self.privacy_officers) and _need(directory).in_groups(self.privacy_officers, user_id)
            case S.COMMANDERS:
                return bool(self.commanders) and _need(directory).in_groups(self.commanders, user_id)
            case S.MEMBER:
                if incident is None:
                    return False
                if user_id == incident.reporter_id or user_id in roles.values():
                    return True  # the people the incident is theirs to run are members wherever they are
                if not incident.channel_id:
                    return False
                return _need(directory).is_member(incident.channel_id, user_id)
            case S.LEVER_ACL:
                if not lever_acl and not lever_roles:  # no access list: the channel's members
                    return self._holds(S.MEMBER, user_id, incident, directory, None, None)
                # The IC role on a lever's list is held the way S.IC is: before an IC exists, by the reporter.
                if any(self._holds(S.IC, user_id, incident, directory, None, None) if r == "ic"
                       else roles.get(r) == user_id for r in lever_roles or ()):
                    return True
                return bool(lever_acl) and _need(directory).in_groups(list(lever_acl or ()), user_id)
        return False

    # ----- saying who may, and how -------------------------------------------------------------------------
    def refusal(self, action: Action, what: str, subjects: tuple[Subject, ...], incident: AccessFacts | None,
                lever_acl: list[str] | None, lever_roles: list[str] | None = None) -> Msg:
        if incident is not None and subjects in ((S.MEMBER,), (S.LEVER_ACL,)) and not lever_acl and not lever_roles:
            return self.join_hint(incident, what)
        who = self.describe(subjects, lever_acl, lever_roles, exercise=incident is not None and incident.is_exercise)
        return Msg.join([Msg.of("Only {who} may {what}.", who=who, what=what), self.hint(action, incident)], sep=" ")

    def join_hint(self, incident: AccessFacts, what: str) -> Msg:
        if incident.private:
            return Msg.of("{ref} is private: only members of its channel may see or change it. Ask its incident "
                          "commander to add you.", ref=incident.ref)
        if incident.channel_id:
            return Msg.of("Only members of {ref}'s channel may {what}. Join {channel} first (anyone may).",
                          ref=incident.ref, what=what, channel=Channel(incident.channel_id))
        return Msg.of("Only the people running {ref} may {what}.", ref=incident.ref, what=what)

    def describe(self, subjects: tuple[Subject, ...], lever_acl: list[str] | None,
                 lever_roles: list[str] | None = None, *, exercise: bool = False) -> str:
        roles = {"ic": "the incident commander", "scribe": "the scribe", "comms": "the comms lead",
                 "safety": "the safety researcher", "security": "the security liaison", "privacy": "the privacy officer"}
        listed = [roles.get(r, r) for r in lever_roles or ()] + list(lever_acl or ())  # a lever's `allowed:`
        names = {
            S.ANYONE: "anyone", S.MEMBER: "members of its channel",
            S.REPORTER: "the facilitator (who started it)" if exercise else "the reporter",
            S.IC: "the incident commander", S.ROLE_HOLDER: "people holding a role", S.SCRIBE: "the scribe",
            S.COMMS: "the comms lead", S.SAFETY: "the safety researcher", S.SECURITY: "the security liaison",
            S.PRIVACY: "the privacy officer", S.COMMANDERS: self.commander_label,
            S.LEVER_ACL: "the people on the lever's access list" + (f" ({', '.join(listed)})" if listed else ""),
        }
        parts = [names[s] for s in subjects if s != S.COMMANDERS or self.commanders]
        if not parts:
            return "nobody (the permissions in FIREBREAK_CONFIG allow no one)"
        return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " or " + parts[-1]

    def hint(self, action: Action, incident: AccessFacts | None) -> Msg | None:
        if incident is None or action == A.TABLETOP:
            return None
        if action == A.TAKE_IC:
            return Msg.of("Join its channel first.")
        if incident.ic:
            return Msg.of("Ask {ic}, the incident commander.", ic=User(incident.ic))
        return Msg.of("There is no incident commander yet: the reporter or a commander may act, or take the role "
                      "with `/incident ic @me`.")


def _need(directory: Directory | None) -> Directory:
    if directory is None:
        raise FactsUnavailable("no directory to ask")
    return directory
