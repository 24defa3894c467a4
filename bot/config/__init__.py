"""Configuration: the process environment (`settings`) and the organization's YAML (`org`)."""
