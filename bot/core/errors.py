"""Domain errors carry a message fit for the person who typed the command."""

from __future__ import annotations


class FirebreakError(Exception):
    """An error whose message can be shown to a user as it is."""

    def __init__(self, message: str, *, usage: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.usage = usage


class UsageError(FirebreakError):
    """The command's words are wrong: say what and show the right usage."""


class NotFound(FirebreakError):
    """The incident (or other thing) named does not exist."""


class NotAllowed(FirebreakError):
    """The user may not do this."""


class Conflict(FirebreakError):
    """The state changed under the user (already done, already resolved, someone else won)."""


class ConfigError(Exception):
    """Configuration files are invalid; the message names the file and the key."""
