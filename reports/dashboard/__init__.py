"""The bottleneck dashboard's data: stage panel, overdue piles, heatmap, stall flags.

Everything reads indexed tables or the hourly rollups (reports.rollups); nothing
loops over orders or scans the raw timeline beyond the live tail.
"""

from reports.dashboard.flags import Flag, stage_flags
from reports.dashboard.heatmap import Heatmap, heatmap_build
from reports.dashboard.stages import (
    WINDOWS,
    StageRow,
    overdue_piles,
    stage_panel,
    window_bounds,
)

__all__ = [
    "WINDOWS",
    "Flag",
    "Heatmap",
    "StageRow",
    "heatmap_build",
    "overdue_piles",
    "stage_flags",
    "stage_panel",
    "window_bounds",
]
