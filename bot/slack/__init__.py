"""Adapters and renderers for Slack: the Web API client, channel provisioning, Block Kit views."""
