"""firebreak: a Slack bot for AI-safety incident response."""

__version__ = "0.1.0"
