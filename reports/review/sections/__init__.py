"""The numbers of a review, section by section (stored as JSON in IncidentReview.data).

Every query reads an indexed range: the timeline by (stage, entered_at) or
(stage, left_at) over the window and its baseline windows, the audit log by
(verb, at), breaker events by (stage, at). Python only ever sees the rows of those
windows (a few thousand at most for a day), never the whole order table.

Definitions (the tests hold these exact numbers):
- volume: orders received in the window (their zero-length `received` visit);
  baseline = mean over the baseline windows; shares by exception type (orders with a
  case of that type; an order with two types counts in both), channel, lane;
- stage time: visits that ENTERED the stage in the window; "auto" = zero-length
  (passed automatically), "manual" = closed with a dwell, "open" = still waiting;
  median and mean of the manual dwell (minutes); extra time of a stage = (mean -
  baseline mean) x manual visits, when positive;
- measures: each bypass window, authorization code, peak-support grant and breaker
  opening that overlapped the window, with the orders that used it and the median
  dwell of the stage it helps, for those orders vs the others leaving that stage
  while it was on;
- timeline: the audit events of the flow-control and approval verbs from an hour
  before the window to an hour after it.
"""

from reports.review.sections.common import (
    S,
    from_iso,
    in_windows,
    iso,
    mean_minutes,
    median_minutes,
    minutes,
    r1,
    share,
)
from reports.review.sections.measures import (
    BREAKER_LOOKBACK,
    BYPASS_STAGE,
    CODE_STAGE,
    breaker_openings,
    measures_section,
)
from reports.review.sections.stages import STAGES, stages_section
from reports.review.sections.timeline import (
    TIMELINE_LIMIT,
    TIMELINE_MARGIN,
    TIMELINE_VERBS,
    timeline_section,
)
from reports.review.sections.volume import bucket_minutes_for, volume_section

__all__ = [
    "BREAKER_LOOKBACK",
    "BYPASS_STAGE",
    "CODE_STAGE",
    "STAGES",
    "TIMELINE_LIMIT",
    "TIMELINE_MARGIN",
    "TIMELINE_VERBS",
    "S",
    "breaker_openings",
    "bucket_minutes_for",
    "from_iso",
    "in_windows",
    "iso",
    "mean_minutes",
    "measures_section",
    "median_minutes",
    "minutes",
    "r1",
    "share",
    "stages_section",
    "timeline_section",
    "volume_section",
]
