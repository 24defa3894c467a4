"""The long-running process: `firebreak serve` in Socket Mode or over HTTP."""
