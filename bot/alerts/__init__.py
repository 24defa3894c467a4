"""Alert intake: detectors open incidents (docs/alerts.md)."""
