"""The hourly stage rollups: computed from the timeline, kept up to date by a schedule.

`stage_hours(start=, end=)` is what readers call: the rolled-up hours below the
watermark plus the same computation run live over whatever is not rolled up yet
(the tail since the watermark, a partial first hour), so a window is exact up to
the minute and cheap at a million orders: only the tail touches the raw timeline.

`rollups_update()` (every few minutes) recomputes the hours since the watermark,
including the last complete hour again (a visit committed a moment late still
lands). `rollups_rebuild()` recomputes everything, week by week; backfills (demo
data, imports of history) call it, as does `manage.py rollups_rebuild`.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.db import transaction
from django.db.models import (
    Case,
    Count,
    F,
    FloatField,
    Func,
    IntegerField,
    Min,
    Q,
    Sum,
    Value,
    When,
)
from django.db.models.expressions import RawSQL
from django.db.models.functions import TruncHour
from django.utils import timezone

from orders.models import StageVisit
from orders.services.queues import stage_settings
from orders.states import OrderStatus
from reports.buckets import BOUNDS_SECONDS, buckets_empty, buckets_merge
from reports.models import RollupWatermark, StageHourRollup

WATERMARK = "stage_hours"
HOUR = timedelta(hours=1)
# Hours re-rolled behind the watermark at each update: a transaction that committed
# after the previous run with a timestamp before it is still counted.
OVERLAP = timedelta(hours=1)
REBUILD_CHUNK = timedelta(days=7)
ALL_STAGES = list(OrderStatus.values)
AUTO = -1  # the bucket of zero-length visits: passed automatically


def hour_floor(at: datetime) -> datetime:
    return at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def local_midnight(at: datetime) -> datetime:
    """The start of `at`'s day in the local time zone."""
    return timezone.localtime(at).replace(hour=0, minute=0, second=0, microsecond=0)


def hour_ceil(at: datetime) -> datetime:
    floor = hour_floor(at)
    return floor if floor == at else floor + HOUR


@dataclass
class HourStats:
    """Mergeable numbers of one stage over one or more hours (see StageHourRollup)."""

    arrivals: int = 0
    exits: int = 0
    auto_passed: int = 0
    dwell_seconds: float = 0.0
    sla_breaches: int = 0
    buckets: list[int] = field(default_factory=buckets_empty)

    @property
    def manual_exits(self) -> int:
        return self.exits - self.auto_passed

    @property
    def average_dwell(self) -> float | None:
        return self.dwell_seconds / self.manual_exits if self.manual_exits else None

    def merge(self, other: HourStats) -> HourStats:
        self.arrivals += other.arrivals
        self.exits += other.exits
        self.auto_passed += other.auto_passed
        self.dwell_seconds += other.dwell_seconds
        self.sla_breaches += other.sla_breaches
        if any(other.buckets):
            buckets_merge(self.buckets, other.buckets)
        return self


Key = tuple[str, datetime]  # (stage, UTC hour)


class DwellSeconds(Func):
    """left_at - entered_at in seconds, computed natively by the database (Django's
    duration arithmetic on SQLite calls a Python function for every row and every
    comparison: 20x slower). SQLite's julianday() is a float: rounded to the
    millisecond, which the bucket bounds allow for."""

    output_field = FloatField()

    def as_sql(self, compiler, connection, **extra):  # PostgreSQL: exact
        return compiler.compile(RawSQL('EXTRACT(EPOCH FROM ("left_at" - "entered_at"))', ()))

    def as_sqlite(self, compiler, connection, **extra):
        return compiler.compile(
            RawSQL('ROUND((julianday("left_at") - julianday("entered_at")) * 86400.0, 3)', ())
        )


def _dwell_bucket() -> Case:
    steps = [When(dwell__lt=b - 0.0005, then=Value(i)) for i, b in enumerate(BOUNDS_SECONDS)]
    return Case(
        When(left_at=F("entered_at"), then=Value(AUTO)),
        *steps,
        default=Value(len(BOUNDS_SECONDS)),
        output_field=IntegerField(),
    )


def _sla_breach(settings_by_stage=None) -> Case:
    # Wall-clock dwell against each stage's target dwell.
    settings_by_stage = settings_by_stage or stage_settings()
    whens = [
        When(stage=stage, dwell__gt=setting.sla_minutes * 60 + 0.0005, then=Value(1))
        for stage, setting in settings_by_stage.items()
    ]
    return Case(*whens, default=Value(0), output_field=IntegerField())


def stage_hours_compute(
    *, start: datetime, end: datetime, breach: Case | None = None
) -> dict[Key, HourStats]:
    """The rollup numbers of [start, end) computed from the raw timeline: two grouped
    queries (arrivals by entry hour; exits by exit hour, dwell bucket and breach).

    `stage__in` every stage lets PostgreSQL range-scan the (stage, time) indexes.
    """
    stats: dict[Key, HourStats] = {}
    if end <= start:
        return stats
    arrivals = (
        StageVisit.objects.filter(stage__in=ALL_STAGES, entered_at__gte=start, entered_at__lt=end)
        .annotate(hour=TruncHour("entered_at", tzinfo=UTC))
        .values("stage", "hour")
        .annotate(n=Count("id"))
        .order_by()
    )
    for row in arrivals:
        stats.setdefault((row["stage"], row["hour"]), HourStats()).arrivals += row["n"]
    exits = (
        StageVisit.objects.filter(stage__in=ALL_STAGES, left_at__gte=start, left_at__lt=end)
        .annotate(
            hour=TruncHour("left_at", tzinfo=UTC),
            dwell=DwellSeconds(),
        )
        .annotate(bucket=_dwell_bucket(), breach=breach or _sla_breach())
        .values("stage", "hour", "bucket", "breach")
        .annotate(n=Count("id"), total=Sum("dwell"))
        .order_by()
    )
    for row in exits:
        cell = stats.setdefault((row["stage"], row["hour"]), HourStats())
        count = row["n"]
        cell.exits += count
        if row["bucket"] == AUTO:
            cell.auto_passed += count
            continue
        cell.buckets[row["bucket"]] += count
        cell.dwell_seconds += row["total"] or 0.0
        cell.sla_breaches += count * row["breach"]
    return stats


def watermark_get() -> datetime | None:
    return RollupWatermark.objects.filter(name=WATERMARK).values_list("until", flat=True).first()


ROLLUP_COLUMNS = ("stage", "hour", "arrivals", "exits", "auto_passed", "dwell_seconds")


class TimelineReader:
    """Reads stage hours for one page or report: the watermark and the stage targets
    are read once, however many windows it asks for."""

    def __init__(self, *, settings_by_stage=None):
        self.settings_by_stage = settings_by_stage or stage_settings()
        self.mark = watermark_get()
        self.breach = _sla_breach(self.settings_by_stage)
        self._computed: dict[tuple[datetime, datetime], dict[Key, HourStats]] = {}

    def _live(self, since: datetime, until: datetime) -> dict[Key, HourStats]:
        """The raw computation of a range, once per reader (the tail since the
        watermark is asked for by every window that ends now)."""
        if until <= since:
            return {}
        key = (since, until)
        if key not in self._computed:
            self._computed[key] = stage_hours_compute(start=since, end=until, breach=self.breach)
        return self._computed[key]

    def hours(
        self,
        *,
        start: datetime,
        end: datetime,
        stages: Iterable[str] | None = None,
        buckets: bool = True,
    ) -> dict[Key, HourStats]:
        """Per (stage, hour) over [start, end): rollups where they exist, raw beyond.

        The first partial hour and everything from the watermark on are computed
        live; a stale watermark (the schedule not running) makes this slower, never
        wrong. `buckets=False` leaves the dwell histograms out (and the SLA breach
        counts of rolled-up hours): cheaper when only counts and sums are wanted.
        """
        return self.windows([(start, end)], stages=stages, buckets=buckets)

    def windows(
        self,
        windows: list[tuple[datetime, datetime]],
        *,
        stages: Iterable[str] | None = None,
        buckets: bool = True,
    ) -> dict[Key, HourStats]:
        """Like `hours`, over several windows at once (e.g. the baseline days): their
        rolled-up parts are read in one query."""
        stats: dict[Key, HourStats] = {}
        wanted = None if stages is None else set(stages)

        def add(part: dict[Key, HourStats]) -> None:
            for key, value in part.items():
                if wanted is None or key[0] in wanted:
                    stats.setdefault(key, HourStats()).merge(value)

        rolled = Q(pk__in=[])
        any_rolled = False
        for start, end in windows:
            # [start, first full hour) live | rolled-up hours | [watermark, end) live
            head_end = min(hour_ceil(start), end)
            add(self._live(start, head_end))
            rolled_until = max(head_end, min(self.mark, end)) if self.mark else head_end
            if rolled_until > head_end:
                rolled |= Q(hour__gte=head_end, hour__lt=rolled_until)
                any_rolled = True
            add(self._live(rolled_until, end))
        if any_rolled:
            rows = StageHourRollup.objects.filter(rolled)
            if wanted is not None:
                rows = rows.filter(stage__in=sorted(wanted))
            columns = (*ROLLUP_COLUMNS, "sla_breaches", "dwell_buckets") if buckets else ()
            add(
                {
                    (row[0], row[1]): HourStats(
                        arrivals=row[2],
                        exits=row[3],
                        auto_passed=row[4],
                        dwell_seconds=row[5],
                        sla_breaches=row[6] if buckets else 0,
                        buckets=list(row[7]) if buckets else buckets_empty(),
                    )
                    for row in rows.values_list(*(columns or ROLLUP_COLUMNS))
                }
            )
        return stats


def stage_hours(
    *, start: datetime, end: datetime, stages: Iterable[str] | None = None
) -> dict[Key, HourStats]:
    """Per (stage, hour) over [start, end): see TimelineReader.hours."""
    return TimelineReader().hours(start=start, end=end, stages=stages)


def stage_totals(stats: dict[Key, HourStats]) -> dict[str, HourStats]:
    """Sum the hours of each stage."""
    totals: dict[str, HourStats] = {}
    for (stage, _hour), value in stats.items():
        totals.setdefault(stage, HourStats()).merge(value)
    return totals


def _rows(stats: dict[Key, HourStats]) -> list[StageHourRollup]:
    return [
        StageHourRollup(
            stage=stage,
            hour=hour,
            arrivals=value.arrivals,
            exits=value.exits,
            auto_passed=value.auto_passed,
            dwell_seconds=value.dwell_seconds,
            dwell_buckets=value.buckets,
            sla_breaches=value.sla_breaches,
        )
        for (stage, hour), value in stats.items()
    ]


def _roll(start: datetime, end: datetime) -> int:
    """Replace the rollups of [start, end) (hour-aligned) with a fresh computation."""
    stats = stage_hours_compute(start=start, end=end)
    StageHourRollup.objects.filter(hour__gte=start, hour__lt=end).delete()
    StageHourRollup.objects.bulk_create(_rows(stats), batch_size=1000)
    return len(stats)


def _watermark_locked() -> RollupWatermark | None:
    """The watermark row, locked for this transaction (one roller at a time)."""
    return RollupWatermark.objects.select_for_update().filter(name=WATERMARK).first()


@dataclass(frozen=True)
class RollupRun:
    start: datetime | None
    end: datetime | None
    rows: int
    seconds: float


def timeline_start(*, rolled_up: bool = True) -> datetime | None:
    """When the recorded timeline begins: the first rolled-up hour once rollups exist
    (they outlive a purged timeline), else the first visit, read as one probe of the
    (stage, entered_at) index per stage (a plain MIN would scan every visit)."""
    if rolled_up and watermark_get():
        first = StageHourRollup.objects.aggregate(first=Min("hour"))["first"]
        if first:
            return first
    firsts = [
        StageVisit.objects.filter(stage=stage).aggregate(first=Min("entered_at"))["first"]
        for stage in ALL_STAGES
    ]
    return min((f for f in firsts if f is not None), default=None)


def _run(start: datetime, end: datetime, mark: RollupWatermark | None, started: float):
    rows = 0
    cursor = start
    while cursor < end:
        upto = min(cursor + REBUILD_CHUNK, end)
        rows += _roll(cursor, upto)
        cursor = upto
    seconds = time.monotonic() - started
    duration_ms = min(int(seconds * 1000), 2**31 - 1)
    if mark is None:
        RollupWatermark.objects.update_or_create(
            name=WATERMARK, defaults={"until": end, "last_duration_ms": duration_ms}
        )
    else:
        mark.until, mark.last_duration_ms = end, duration_ms
        mark.save(update_fields=["until", "last_duration_ms", "updated_at"])
    return RollupRun(start, end, rows, seconds)


def rollups_update(*, now: datetime | None = None) -> RollupRun:
    """Roll up every complete hour since the watermark (the first run: since the
    timeline began). Idempotent: a second run in the same hour redoes only the
    overlap hour."""
    started = time.monotonic()
    current = hour_floor(now or timezone.now())
    with transaction.atomic():
        mark = _watermark_locked()
        start = mark.until - OVERLAP if mark else timeline_start(rolled_up=False)
        if start is None:
            start = current
        start = min(hour_floor(start), current)
        return _run(start, current, mark, started)


def rollups_rebuild(*, now: datetime | None = None) -> RollupRun:
    """Recompute every hour from the timeline's first visit (backfills, repairs)."""
    started = time.monotonic()
    current = hour_floor(now or timezone.now())
    with transaction.atomic():
        mark = _watermark_locked()
        StageHourRollup.objects.filter(hour__gte=current).delete()
        start = timeline_start(rolled_up=False)
        start = hour_floor(start) if start else current
        StageHourRollup.objects.filter(hour__lt=start).delete()
        return _run(min(start, current), current, mark, started)
