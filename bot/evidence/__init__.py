"""Evidence and proof of containment: reproduction cases kept as hashed evidence, and probes that replay
them against the model to show whether a lever stopped the harm.

Modules: `settings` (typed config), `redact` (PII and secrets out of what is shown), `preview` (what of a case
others may read), `store` (cases and probe records), `cases` (adding and revealing, with the messages they call
for), `client` (OpenAI-compatible calls), `judge` (verdicts), `probe` (the bounded runner on its lane),
`check` (the proof check levers ask), `postmortem` (the "evidence" provider), `wiring` (set-up without Slack).
The Slack face is `bot.slack.commands.repro` / `probe` and `bot.slack.views.evidence`.
"""
