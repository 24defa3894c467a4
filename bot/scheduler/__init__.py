"""Durable timers (issue 6): status-update reminders, acknowledgement paging, SLA warnings and
regulatory report clocks, persisted in APScheduler's SQLAlchemy job store so they survive restarts.

Modules: `durable` (the timers service), `lease` (one scheduling process), `planner` (which timers an
incident needs), `jobs` / `paging` (what fires, and what it records for the effects runner to do), `pager`
(PagerDuty / webhook adapter), `regimes` and `clocks` (reporting deadlines), `service` (what other features
may ask), `wiring` (jobs, hooks and the pager effect, set up by `build_services`). The Slack faces are
`bot.slack.views.reminders` and `bot.slack.commands.report_clock`; `firebreak scheduler` is `bot.cli.scheduler`.
Nothing here runs at import, and nothing here knows Slack.
"""
