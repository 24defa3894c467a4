"""firebreak benchmarks: `python -m bench` (see docs/performance.md).

The bot runs as its own process in HTTP mode against the fake Slack server on 127.0.0.1; requests are
signed and sent from the bench process (or, for the burst, a separate driver process). Benchmarks are
not tests: nothing here asserts a timing; the runner prints figures next to their targets.
"""
