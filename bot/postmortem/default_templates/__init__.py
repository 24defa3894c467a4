"""The shipped templates, packaged so a wheel install finds them. Kept identical to the repository's
top-level `templates/` (a test enforces it); edit `templates/` and copy here."""
