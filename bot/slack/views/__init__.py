"""Slack views of domain features: the messages, buttons and modals a feature shows in Slack."""
