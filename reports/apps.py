from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ReportsConfig(AppConfig):
    """The bottleneck dashboard, heatmaps, post-incident reviews and load drills."""

    name = "reports"
    verbose_name = _("Reports")
