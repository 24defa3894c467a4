"""The evidence feature's domain wiring (no Slack): the proof check levers ask, the postmortem's "evidence"
section, and the model endpoints' API keys registered as secrets."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.evidence import client
from bot.evidence.check import proof_check
from bot.evidence.postmortem import provide

if TYPE_CHECKING:
    from bot.app.services import Services


def setup(services: Services) -> None:
    cfg = services.config.evidence
    # Keys are read at call time (and registered again then); registering what is set now means an error an
    # endpoint echoes is redacted even in the first message about it.
    client.register_keys(*(e.api_key_env for e in cfg.endpoints.values()),
                         cfg.moderation.api_key_env if cfg.moderation else None)
    services.proof_checks.append(proof_check)
    services.postmortem_providers["evidence"] = provide
