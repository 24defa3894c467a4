"""Jinja templates (package data)."""
