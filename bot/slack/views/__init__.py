"""Slack views of domain features: the messages, buttons and modals each feature shows, rendered from what the
domain recorded (named views of the effects ledger)."""
