"""Every table of the app. Importing this package registers them all with SQLModel's metadata.

Each concept keeps its tables in its own module; add the module's import here.
"""

from bot.models.incident import Incident, RoleAssignment  # noqa: F401
from bot.models.requests import ProcessedRequest  # noqa: F401
from bot.models.scheduler import PageState, ReportClock, SchedulerRun  # noqa: F401
from bot.models.timeline import TimelineEvent  # noqa: F401
