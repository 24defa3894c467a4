"""Shipped tabletop scenario files (package data)."""
