from reports.models.activity import StaffActivity
from reports.models.reviews import IncidentReview
from reports.models.rollups import RollupWatermark, StageHourRollup

__all__ = ["IncidentReview", "RollupWatermark", "StaffActivity", "StageHourRollup"]
