from django.urls import path

from reports.api import FlagsView, HeatmapView, OverdueView, StagesView

urlpatterns = [
    path("stages/", StagesView.as_view(), name="api-metrics-stages"),
    path("heatmap/", HeatmapView.as_view(), name="api-metrics-heatmap"),
    path("flags/", FlagsView.as_view(), name="api-metrics-flags"),
    path("overdue/", OverdueView.as_view(), name="api-metrics-overdue"),
]
