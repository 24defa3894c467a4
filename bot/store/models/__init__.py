"""Every table of the app. Importing this package registers them all with SQLModel's metadata.

Each concept keeps its tables in its own module; add the module's import here.
"""

from bot.store.models.alerts import Alert, AlertGroup, AlertSourceStat  # noqa: F401
from bot.store.models.containment import ContainmentAction  # noqa: F401
from bot.store.models.effects import Effect  # noqa: F401
from bot.store.models.evidence import ProbeResult, ProbeRun, ReproCase  # noqa: F401
from bot.store.models.incident import Incident, RoleAssignment  # noqa: F401
from bot.store.models.pending import PendingAction  # noqa: F401
from bot.store.models.postmortem import ActionItem  # noqa: F401
from bot.store.models.requests import ProcessedRequest  # noqa: F401
from bot.store.models.runbook import RunbookAttachment, RunbookChecklist, RunbookStep  # noqa: F401
from bot.store.models.scheduler import PageState, ReportClock, SchedulerRun  # noqa: F401
from bot.store.models.tabletop import ExerciseRun, InjectDelivery, Scorecard  # noqa: F401
from bot.store.models.timeline import TimelineEvent  # noqa: F401
