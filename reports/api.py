"""The dashboard's numbers as JSON for staff (`/api/v1/metrics/`): wall screens, scripts.

Session or token authentication, like the other staff endpoints; the permission is
the dashboard's (`reports.view_dashboard`). Same selectors as the page.
"""

from __future__ import annotations

from django.utils import timezone
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from orders.api.errors import ApiError
from orders.api.schema import error_responses
from orders.api.staff import StaffView
from reports.dashboard import WINDOWS, heatmap_build, overdue_piles, stage_flags, stage_panel
from reports.dashboard.heatmap import MODES
from reports.rollups import TimelineReader
from reports.views import DASHBOARD_PERMISSION


class MetricsView(StaffView):
    def check_permissions(self, request):
        super().check_permissions(request)
        if not request.user.has_perm(DASHBOARD_PERMISSION):
            self.permission_denied(request, message=_("You may not see the dashboard."))

    @staticmethod
    def choice(request, name: str, choices, default: str) -> str:
        value = request.query_params.get(name, default)
        if value not in choices:
            raise ApiError(
                code="invalid",
                message=_("Unknown %(name)s; use one of: %(choices)s.")
                % {"name": name, "choices": ", ".join(choices)},
                details={name: value[:50]},
            )
        return value


class StageOut(serializers.Serializer):
    stage = serializers.CharField()
    label = serializers.CharField()
    waiting = serializers.IntegerField(help_text="Unclaimed orders in the stage now.")
    in_progress = serializers.IntegerField(help_text="Claimed orders in the stage now.")
    oldest_seconds = serializers.FloatField(allow_null=True)
    over_sla = serializers.IntegerField(help_text="Waiting longer than the target dwell now.")
    over_target = serializers.IntegerField(help_text="Placed more than ORDER_TARGET_HOURS ago.")
    over_alarm = serializers.IntegerField(help_text="Placed more than BACKLOG_ALARM_HOURS ago.")
    sla_minutes = serializers.IntegerField(allow_null=True)
    breaker = serializers.CharField(allow_blank=True)
    cue = serializers.ChoiceField(choices=["ok", "warm", "hot"])
    exits = serializers.IntegerField(help_text="Orders that left the stage in the window.")
    auto_share = serializers.FloatField(allow_null=True)
    average_seconds = serializers.FloatField(allow_null=True)
    median_seconds = serializers.FloatField(allow_null=True)
    p90_seconds = serializers.FloatField(allow_null=True)
    window_sla_breaches = serializers.IntegerField()


class StagesOut(serializers.Serializer):
    as_of = serializers.DateTimeField()
    window = serializers.ChoiceField(choices=list(WINDOWS))
    stages = StageOut(many=True)


class StagesView(MetricsView):
    @extend_schema(
        operation_id="metrics_stages",
        parameters=[OpenApiParameter("window", str, enum=list(WINDOWS), default="today")],
        responses={200: StagesOut, **error_responses(400, 401, 403)},
    )
    def get(self, request):
        window = self.choice(request, "window", WINDOWS, "today")
        now = timezone.now()
        rows = stage_panel(now=now, window=window)
        stages = [
            {
                "stage": r.stage,
                "label": r.label,
                "waiting": r.waiting,
                "in_progress": r.in_progress,
                "oldest_seconds": r.oldest_seconds,
                "over_sla": r.over_sla,
                "over_target": r.over_target,
                "over_alarm": r.over_alarm,
                "sla_minutes": r.sla_minutes,
                "breaker": r.breaker_state,
                "cue": r.cue,
                "exits": r.exits,
                "auto_share": r.auto_share,
                "average_seconds": r.average_seconds,
                "median_seconds": r.median_seconds,
                "p90_seconds": r.p90_seconds,
                "window_sla_breaches": r.window_breaches,
            }
            for r in rows
        ]
        return Response(StagesOut({"as_of": now, "window": window, "stages": stages}).data)


class CellOut(serializers.Serializer):
    hour = serializers.IntegerField(min_value=0, max_value=23)
    value = serializers.FloatField(allow_null=True)
    baseline = serializers.FloatField(allow_null=True)
    level = serializers.ChoiceField(choices=["critical", "hot", "warm", "normal", "cool", "none"])
    difference_percent = serializers.IntegerField(allow_null=True)


class HeatmapRowOut(serializers.Serializer):
    stage = serializers.CharField()
    label = serializers.CharField()
    cells = CellOut(many=True)


class HeatmapOut(serializers.Serializer):
    as_of = serializers.DateTimeField()
    day = serializers.DateField()
    mode = serializers.ChoiceField(choices=list(MODES))
    baseline_kind = serializers.ChoiceField(choices=["weekday", "recent"])
    baseline_days = serializers.ListField(child=serializers.DateField())
    stages = HeatmapRowOut(many=True)


class HeatmapView(MetricsView):
    @extend_schema(
        operation_id="metrics_heatmap",
        parameters=[OpenApiParameter("mode", str, enum=list(MODES), default="arrivals")],
        responses={200: HeatmapOut, **error_responses(400, 401, 403)},
    )
    def get(self, request):
        mode = self.choice(request, "mode", MODES, "arrivals")
        now = timezone.now()
        heatmap = heatmap_build(now=now, mode=mode)
        body = {
            "as_of": now,
            "day": heatmap.day.date(),
            "mode": heatmap.mode,
            "baseline_kind": heatmap.baseline_kind,
            "baseline_days": [day.date() for day in heatmap.baseline_days],
            "stages": [
                {"stage": row.stage, "label": row.label, "cells": [vars(c) for c in row.cells]}
                for row in heatmap.rows
            ],
        }
        return Response(HeatmapOut(body).data)


class FlagOut(serializers.Serializer):
    stage = serializers.CharField()
    kind = serializers.ChoiceField(choices=["stalled", "unattended", "surge"])
    title = serializers.CharField()
    text = serializers.CharField()
    evidence = serializers.DictField()


class FlagsOut(serializers.Serializer):
    as_of = serializers.DateTimeField()
    flags = FlagOut(many=True)


class FlagsView(MetricsView):
    @extend_schema(
        operation_id="metrics_flags",
        responses={200: FlagsOut, **error_responses(401, 403)},
    )
    def get(self, request):
        now = timezone.now()
        reader = TimelineReader()
        flags = stage_flags(
            stage_panel(now=now, reader=reader),
            heatmap=heatmap_build(now=now, reader=reader),
            now=now,
            reader=reader,
        )
        return Response(FlagsOut({"as_of": now, "flags": [vars(f) for f in flags]}).data)


class OldestOut(serializers.Serializer):
    number = serializers.CharField()
    status = serializers.CharField()
    placed_at = serializers.DateTimeField()
    stage_entered_at = serializers.DateTimeField()
    age_seconds = serializers.FloatField()
    stage_seconds = serializers.FloatField()
    claimed_by = serializers.CharField(allow_null=True, source="claimed_by__username")
    pinned = serializers.BooleanField()


class OverdueOut(serializers.Serializer):
    as_of = serializers.DateTimeField()
    oldest = OldestOut(many=True)


class OverdueView(MetricsView):
    @extend_schema(
        operation_id="metrics_overdue",
        responses={200: OverdueOut, **error_responses(401, 403)},
    )
    def get(self, request):
        now = timezone.now()
        return Response(OverdueOut({"as_of": now, "oldest": overdue_piles(now=now)}).data)
