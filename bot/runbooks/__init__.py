"""Runbooks: YAML checklists that walk responders through an AI-safety incident, step by step, in Slack.

- `loader`: parse and validate runbook files (shipped here as *.yml, plus FIREBREAK_RUNBOOKS_DIR).
- `service`: the domain (attach, re-evaluate on severity change, finish / skip / assign a step).
- `nudges`: the one function that nudges late steps (`nudge_overdue`) and its scheduling.
- `checklist`: the interactive checklist message (Block Kit), updated in place.
- `cli`: `firebreak runbooks check [DIR]`.
The Slack commands, buttons and hooks are in `bot/slack/commands/runbook.py`.
"""
