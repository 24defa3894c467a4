import bench.alerts  # noqa: F401  (registers the alert intake scenario)
from bench.cli import main

raise SystemExit(main())
