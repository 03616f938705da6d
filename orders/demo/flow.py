"""Flow-control set-up of the demo shop: stage owners, channels, a calendar."""

from __future__ import annotations

from datetime import date, time

from django.contrib.auth.models import Group

from backoffice.models import BusinessCalendar, SpecialDay, WorkingPeriod
from backoffice.notifications.models import ChannelKind, NotificationChannel
from orders import teams
from orders.models import StageSetting
from orders.services.queues import stage_settings
from orders.states import OrderStatus

S = OrderStatus
STAGE_TEAMS = {
    S.RECEIVED: teams.SALES,
    S.SALES_REVIEW: teams.SALES,
    S.FINANCE_REVIEW: teams.FINANCE,
    S.STOCK_RESERVATION: teams.WAREHOUSE,
    S.PICKING: teams.WAREHOUSE,
    S.QUALITY_CHECK: teams.QUALITY,
}
# Target dwell per stage (minutes): the 2-hour promise split along the line.
STAGE_SLA = {
    S.RECEIVED: 5,
    S.SALES_REVIEW: 20,
    S.FINANCE_REVIEW: 20,
    S.STOCK_RESERVATION: 15,
    S.PICKING: 40,
    S.QUALITY_CHECK: 20,
}
# 2026 public holidays and make-up working days (调休) of the mainland calendar.
HOLIDAYS_2026 = [
    (date(2026, 1, 1), "元旦 New Year's Day"),
    (date(2026, 2, 17), "春节 Spring Festival"),
    (date(2026, 2, 18), "春节 Spring Festival"),
    (date(2026, 2, 19), "春节 Spring Festival"),
    (date(2026, 4, 5), "清明节 Qingming"),
    (date(2026, 5, 1), "劳动节 Labour Day"),
    (date(2026, 6, 19), "端午节 Dragon Boat"),
    (date(2026, 10, 1), "国庆节 National Day"),
    (date(2026, 10, 2), "国庆节 National Day"),
    (date(2026, 10, 3), "国庆节 National Day"),
]
MAKE_UP_DAYS_2026 = [(date(2026, 2, 14), "春节调休 make-up day"), (date(2026, 9, 26), "国庆调休")]


def flow_demo_setup() -> None:
    """Owners, targets and an e-mail channel for every stage; an office calendar."""
    mail, _ = NotificationChannel.objects.get_or_create(
        name="Team e-mail",
        defaults={"kind": ChannelKind.EMAIL, "target": "", "timeout_ms": 5000},
    )
    NotificationChannel.objects.get_or_create(
        name="Supervisors' e-mail",
        defaults={
            "kind": ChannelKind.EMAIL,
            "target": "ops-supervisors@demo.example",
            "timeout_ms": 5000,
            "for_supervisors": True,
        },
    )
    groups = {g.name: g for g in Group.objects.filter(name__in=set(STAGE_TEAMS.values()))}
    for stage, setting in stage_settings().items():
        StageSetting.objects.filter(pk=setting.pk).update(
            owner_group=groups.get(STAGE_TEAMS[stage]), sla_minutes=STAGE_SLA[stage]
        )
        setting.channels.add(mail)
    office, created = BusinessCalendar.objects.get_or_create(name="Office hours 09:00-21:00")
    if created:
        WorkingPeriod.objects.bulk_create(
            [
                WorkingPeriod(calendar=office, weekday=day, start=time(9), end=time(21))
                for day in range(6)
            ]
        )
        SpecialDay.objects.bulk_create(
            [SpecialDay(calendar=office, date=d, name=n) for d, n in HOLIDAYS_2026]
            + [
                SpecialDay(
                    calendar=office, date=d, name=n, is_open=True, start=time(9), end=time(21)
                )
                for d, n in MAKE_UP_DAYS_2026
            ]
        )
