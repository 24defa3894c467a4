"""Local stand-ins for outside services (real HTTP servers on 127.0.0.1 that keep state).

They ship in the package because `firebreak console`, `firebreak tabletop run --auto` and the benchmark
run the real bot against them with no Slack account.
"""
