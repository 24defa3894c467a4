"""Containment levers: LaunchDarkly flag kills and variations, webhooks; pulled from Slack, verified, timed.

- `spec.py` loads and validates the lever file (FIREBREAK_LEVERS_FILE) into a `LeverRegistry`.
- `base.py` is the lever-type contract (apply / verify / revert) and where dry-run is enforced.
- `launchdarkly.py`, `webhook.py` are the lever types; `retry.py` the bounded retry policy;
  `sdk.py` the launchdarkly-server-sdk verifier; `runtime.py` what lever types need from outside.
- `service.py` records containment actions and sets MTTC; `messages.py` is what the channel is told;
  `records.py` reads actions back; `proof.py` the proof-check contract; `wiring.py` builds it all for any
  transport (the Slack face is `bot/slack/commands/contain.py` with `bot/slack/views/containment.py`).
"""
