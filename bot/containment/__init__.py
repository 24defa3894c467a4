"""Containment levers: LaunchDarkly flag kills and variations, webhooks; pulled from Slack, verified, timed.

- `spec.py` loads and validates the lever file (FIREBREAK_LEVERS_FILE) into a `LeverRegistry`.
- `base.py` is the lever-type contract (apply / verify / revert) and where dry-run is enforced.
- `launchdarkly.py`, `webhook.py` are the lever types; `retry.py` the bounded retry policy;
  `sdk.py` the launchdarkly-server-sdk verifier; `service.py` records containment actions and sets MTTC.
"""
