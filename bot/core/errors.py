"""Domain errors carry a message fit for the person who typed the command.

The message is plain text (quoted input in backticks is fine) or a `Msg` when it names people or channels;
the transport renders it (escaped for Slack, as text in a terminal)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.core.text import Msg


class FirebreakError(Exception):
    """An error whose message can be shown to a user as it is."""

    def __init__(self, message: str | Msg, *, usage: str | None = None) -> None:
        from bot.core.text import Msg, plain

        self.msg: Msg = message if isinstance(message, Msg) else Msg.text(message)
        self.message: str = plain(self.msg) if isinstance(message, Msg) else message
        super().__init__(self.message)
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
