"""Read-side queries of the orders app, shared by the admin, the API and reports."""

from __future__ import annotations

from collections import defaultdict

from django.db.models import Count, Min

from orders.models import Order, StageVisit, StockLevel
from orders.states import OPEN_STAGES


def order_get_with_details(*, pk: int) -> Order:
    return (
        Order.objects.select_related("customer", "partner", "coupon")
        .prefetch_related("lines", "payments")
        .get(pk=pk)
    )


def order_timeline(order: Order):
    return (
        StageVisit.objects.filter(order=order).select_related("actor").order_by("entered_at", "id")
    )


def orders_waiting_by_stage() -> dict[str, dict]:
    """Per open stage: how many orders wait and since when the oldest has (one query)."""
    rows = (
        Order.objects.filter(status__in=OPEN_STAGES)
        .values("status")
        .annotate(count=Count("id"), oldest=Min("stage_entered_at"))
    )
    return {row["status"]: {"count": row["count"], "oldest": row["oldest"]} for row in rows}


def order_stock_availability(order: Order) -> list[dict]:
    """For each line: what it needs and what each active warehouse has available."""
    lines = list(order.lines.all())
    levels = StockLevel.objects.filter(
        product_id__in=[line.product_id for line in lines], warehouse__is_active=True
    ).select_related("warehouse")
    by_product = defaultdict(list)
    for level in levels:
        by_product[level.product_id].append(
            {"warehouse": level.warehouse.name, "available": level.available}
        )
    return [
        {
            "sku": line.sku,
            "name": line.name,
            "quantity": line.quantity,
            "warehouses": by_product.get(line.product_id, []),
            "total_available": sum(w["available"] for w in by_product.get(line.product_id, [])),
        }
        for line in lines
    ]


def todo_for(user, *, now=None) -> dict:
    """A person's to-do: the stages they work (queue, limits, breaker), their claimed
    orders, pinned and overdue orders in their stages, their unread notifications.

    The admin page and the phone API render this same structure (about ten queries).
    """
    from django.urls import reverse
    from django.utils import timezone

    from backoffice.claims import person_key
    from backoffice.models import WorkLoad
    from backoffice.notifications.selectors import notifications_unread_for
    from orders.models import STAGE_PERMISSIONS, StageBreaker
    from orders.services.alarms import orders_over_sla_filter
    from orders.services.breakers import stages_waiting
    from orders.services.queues import queue_key, stage_limits, stage_settings
    from orders.states import MAIN_LINE, OrderStatus

    now = now or timezone.now()
    mine = [s for s in MAIN_LINE if user.has_perm(STAGE_PERMISSIONS[s])]
    settings_by_stage = stage_settings()
    waiting = stages_waiting(mine) if mine else {}
    breakers = {b.stage: b for b in StageBreaker.objects.filter(stage__in=mine)}
    keys = [queue_key(s) for s in mine] + [person_key(queue_key(s), user.pk) for s in mine]
    loads = dict(WorkLoad.objects.filter(key__in=keys).values_list("key", "in_progress"))
    change_url = "admin:orders_order_change"

    def order_row(order) -> dict:
        dwell = now - order.stage_entered_at
        setting = settings_by_stage.get(order.status)
        return {
            "id": order.pk,
            "number": order.number,
            "stage": order.status,
            "stage_label": str(OrderStatus(order.status).label),
            "pinned": order.pinned,
            "placed_at": order.placed_at.isoformat(),
            "in_stage_minutes": int(dwell.total_seconds() // 60),
            "sla_minutes": setting.sla_minutes if setting else None,
            "claimed_at": order.claimed_at.isoformat() if order.claimed_at else None,
            "url": reverse(change_url, args=[order.pk]),
        }

    stages = []
    for stage in mine:
        setting = settings_by_stage[stage]
        breaker = breakers.get(stage)
        is_open = bool(breaker and breaker.is_open)
        limits = stage_limits(setting, breaker_open=is_open)
        stages.append(
            {
                "stage": stage,
                "label": str(OrderStatus(stage).label),
                "waiting": waiting.get(stage).count if stage in waiting else 0,
                "in_progress": loads.get(queue_key(stage), 0),
                "wip_limit": limits.wip_limit,
                "mine": loads.get(person_key(queue_key(stage), user.pk), 0),
                "person_cap": limits.person_cap,
                "breaker": breaker.state if breaker else "closed",
                "breaker_label": str(breaker.get_state_display()) if breaker else "",
                "claim_url": reverse("admin:orders_claim_next", args=[stage]),
            }
        )
    claimed = Order.objects.filter(claimed_by=user).order_by("claimed_at")[:100]
    pinned = Order.objects.filter(status__in=mine, pinned=True, claimed_by__isnull=True).order_by(
        "placed_at"
    )[:20]
    overdue = Order.objects.filter(status__in=mine).filter(orders_over_sla_filter(now=now))
    notifications = list(notifications_unread_for(user).order_by("-created_at")[:20])
    return {
        "generated_at": now.isoformat(),
        "stages": stages,
        "claimed": [order_row(o) for o in claimed],
        "pinned": [order_row(o) for o in pinned],
        "overdue": {
            "count": overdue.count() if mine else 0,
            "oldest": [order_row(o) for o in overdue.order_by("stage_entered_at")[:10]]
            if mine
            else [],
        },
        "notifications": [
            {
                "id": n.pk,
                "level": n.level,
                "text": n.text,
                "link": n.link,
                "created_at": n.created_at.isoformat(),
            }
            for n in notifications
        ],
    }


def order_evaluation_view(order) -> dict:
    """The order page's evaluation card and health score, ready to show: each source's
    part with its status, age and (when unavailable) the reason and when the source last
    answered; the score with each factor's value, weight, inputs and what is missing."""
    from orders.models import (
        ConnectorState,
        EvaluationCard,
        OrderHealth,
        PartStatus,
        SourceKind,
    )
    from orders.services.health import FACTOR_LABELS

    card = EvaluationCard.objects.filter(order_id=order.pk).first()
    health = OrderHealth.objects.filter(order_id=order.pk).select_related("weights").first()
    parts = []
    if card is not None:
        last_good = dict(ConnectorState.objects.values_list("kind", "last_success_at"))
        for kind, label in SourceKind.choices:
            data, status, fetched_at, error = card.part(kind)
            parts.append(
                {
                    "kind": kind,
                    "label": label,
                    "status": status,
                    "status_label": PartStatus(status).label,
                    "fetched_at": fetched_at,
                    "error": error,
                    "last_good": last_good.get(kind),
                    "lines": _card_lines(kind, data),
                }
            )
    factors = []
    if health is not None:
        for name, label in FACTOR_LABELS.items():
            item = health.breakdown.get(name, {})
            factors.append(
                {
                    "label": label,
                    "value": item.get("value"),
                    "weight": item.get("weight"),
                    "inputs": ", ".join(f"{k}={v}" for k, v in (item.get("inputs") or {}).items()),
                    "missing": item.get("missing") or [],
                }
            )
    return {"card": card, "parts": parts, "health": health, "factors": factors}


def _card_lines(kind: str, data: dict) -> list[str]:
    from django.utils.translation import gettext as _

    if not data:
        return []
    if kind == "customer":
        return [
            _("Credit %(rating)s, tier %(tier)s")
            % {"rating": data.get("credit_rating", "–"), "tier": data.get("tier", "–")},
            _("Limit %(limit)s CNY, in use %(exposure)s, headroom %(headroom)s")
            % {
                "limit": data.get("credit_limit", "–"),
                "exposure": data.get("exposure", "–"),
                "headroom": data.get("headroom", "–"),
            },
        ]
    if kind == "inventory":
        rows = [
            f"{line.get('sku')} × {line.get('quantity')}: "
            + (
                ", ".join(f"{code} {n}" for code, n in (line.get("warehouses") or {}).items())
                or _("no stock anywhere")
            )
            for line in data.get("lines", [])
        ]
        if data.get("shortage"):
            rows.append(_("Not enough stock even across all warehouses."))
        elif data.get("transfer_needed"):
            rows.append(_("No single warehouse can serve the order: a transfer is needed."))
        return rows

    def share(value):
        return "–" if value is None else f"{float(value):.0%}"

    return [
        _("%(orders)s earlier orders; paid on time %(paid)s, received on time %(received)s")
        % {
            "orders": data.get("orders", "–"),
            "paid": share(data.get("paid_on_time_rate")),
            "received": share(data.get("received_on_time_rate")),
        }
    ]
