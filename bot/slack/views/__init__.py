"""Block Kit views of the Slack transport: each renders what the domain recorded, one module per feature."""
