"""The composition root: builds the services every transport shares from the settings."""
