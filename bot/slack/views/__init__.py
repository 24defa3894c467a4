"""Block Kit for each feature, rendered from what the domain recorded (named views of the effects ledger)."""
