"""Runbooks: YAML checklists that walk responders through an AI-safety incident, step by step.

- `loader`: parse and validate runbook files (shipped here as *.yml, plus FIREBREAK_RUNBOOKS_DIR).
- `service`: the step rows (attach, re-evaluate on severity change, finish / skip / assign a step).
- `flows`: each thing that happens to a runbook as one transaction with its timeline and recorded effects.
- `checklist`: the checklist message as recorded effects (posted once, updated coalesced).
- `nudges`: the one function that nudges late steps (`nudge_overdue`) and its timers.
- `wiring`: the feature's hooks, timer job and postmortem provider (no Slack).
The Slack face (commands, the step menu, the modals) is `bot/slack/commands/runbook.py`; the checklist's Block
Kit is `bot/slack/views/checklist.py`.
"""
