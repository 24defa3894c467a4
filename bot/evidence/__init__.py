"""Evidence and proof of containment: reproduction cases kept as hashed evidence, and probes that replay
them against the model to show whether a lever stopped the harm.

Modules: `settings` (typed config), `redact` (PII redaction for Slack), `store` (cases and probe records),
`client` (OpenAI-compatible calls), `judge` (verdicts), `probe` (bounded runner), `check` (the proof check
the containment layer calls), `views` (Block Kit), `postmortem` (the "evidence" provider).
"""
