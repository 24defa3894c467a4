"""Durable timers (issue 6): status-update reminders, acknowledgement paging, SLA warnings and
regulatory report clocks, persisted in APScheduler's SQLAlchemy job store so they survive restarts.

Modules: `durable` (the timers service), `lease` (one scheduling process), `planner` (which timers an
incident needs), `jobs` / `paging` (what fires), `pager` (PagerDuty / webhook adapter), `regimes` and
`clocks` (reporting deadlines), `buttons`, `feature` (wiring), `cli` (`firebreak scheduler`).
Nothing here runs at import.
"""
