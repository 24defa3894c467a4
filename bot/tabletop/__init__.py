"""Tabletop exercises: scenarios, the exercise runner, injects, the scorecard, the offline --auto player."""
