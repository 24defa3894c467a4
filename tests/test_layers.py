"""The shape the code promises: the domain decides and records, transports render.

No module of the domain (everything outside the transports and the stand-ins) imports Slack's libraries, the
Slack transport, the command line or the server; the transports may import the domain, never the reverse.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "bot"
TRANSPORTS = ("bot/slack/", "bot/cli/", "bot/server/", "bot/fakes/")
FORBIDDEN = ("slack_sdk", "slack_bolt", "bot.slack", "bot.cli", "bot.server")
# Modules still being moved to the shape; each leaves this list when its slice lands (none may join it).
NOT_YET: set[str] = set()  # every module has moved; the list stays empty


def imported(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def domain_modules() -> list[Path]:
    out = []
    for path in sorted(ROOT.rglob("*.py")):
        rel = path.relative_to(ROOT.parent).as_posix()
        if rel.startswith(TRANSPORTS) or "/migrations/" in rel or rel == "bot/__main__.py":
            continue
        out.append(path)
    return out


def test_no_domain_module_imports_a_transport() -> None:
    offenders = {}
    for path in domain_modules():
        rel = path.relative_to(ROOT.parent).as_posix()
        bad = sorted(n for n in imported(path) if n.startswith(FORBIDDEN))
        if bad and rel not in NOT_YET:
            offenders[rel] = bad
    assert offenders == {}, offenders


def test_the_list_of_modules_not_yet_moved_only_shrinks() -> None:
    still = {p.relative_to(ROOT.parent).as_posix() for p in domain_modules()
             if any(n.startswith(FORBIDDEN) for n in imported(p))}
    assert NOT_YET >= still, f"new transport imports in the domain: {sorted(still - NOT_YET)}"
    assert still >= NOT_YET, f"these modules are clean now; take them off NOT_YET: {sorted(NOT_YET - still)}"


FEATURES = ("bot.runbooks", "bot.containment", "bot.evidence", "bot.scheduler", "bot.metrics", "bot.postmortem",
            "bot.tabletop", "bot.alerts")


def test_the_core_knows_no_feature() -> None:
    """bot/core is the vocabulary every feature shares: it imports none of them (features plug in through
    hooks, effects and the services container, never the other way round)."""
    offenders = {}
    for path in sorted((ROOT / "core").rglob("*.py")):
        bad = sorted(n for n in imported(path) if n.startswith(FEATURES))
        if bad:
            offenders[path.relative_to(ROOT.parent).as_posix()] = bad
    assert offenders == {}, offenders
