"""The evaluation card and the health score in the order's life.

- At intake, with the local connectors (the default: the app's own tables), the card
  is read in the intake's transaction and the order scored before it is routed: one
  request, and the order leaves `received` with its card and lane.
- With any HTTP connector the order is accepted at once with a pending card; right
  after commit a django-q2 task fetches the three sources concurrently within
  `CARD_BUDGET_MS`, scores the order and routes it on. Until then the router keeps the
  order in `received` (at most the budget: a card past its budget never holds it).
- A schedule refreshes the parts a source could not give, rescores those orders, and
  routes any order still waiting in `received` for a card whose budget has passed.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from orders.models import EvaluationCard, Order, PartStatus, SourceKind
from orders.states import OrderStatus

S = OrderStatus
PARTS = tuple(SourceKind.values)


def card_inline() -> bool:
    """True when every source is local: the card is read inside intake."""
    return all(getattr(settings, f"CONNECTOR_{kind.upper()}") == "local" for kind in PARTS)


def order_evaluate_at_intake(order: Order) -> None:
    """Card and score for a new order. Caller holds the intake transaction."""
    from orders.services.card import card_build_inline
    from orders.services.health import health_score_new

    if card_inline():
        card = card_build_inline(order)
        health_score_new(order, card)  # the lane goes out with the first transition
        order.__dict__["_card_ready"] = True
        return
    EvaluationCard.objects.create(
        order=order,
        requested_at=timezone.now(),
        **{f"{kind}_status": PartStatus.PENDING for kind in PARTS},
    )
    order.__dict__["_card_ready"] = False
    order_id = order.pk
    transaction.on_commit(lambda: _queue_fetch(order_id))


def _queue_fetch(order_id: int) -> None:
    from django_q.tasks import async_task

    async_task("orders.tasks.card_fetch_and_route", order_id, task_name=f"card {order_id}")


def order_card_ready(order: Order) -> bool:
    """May the order leave `received`? Yes unless its card is still being fetched
    within its budget (orders without a card, e.g. older ones, are never held)."""
    ready = order.__dict__.get("_card_ready")
    if ready is not None:
        return ready
    requested = (
        EvaluationCard.objects.filter(order_id=order.pk, completed_at=None)
        .values_list("requested_at", flat=True)
        .first()
    )
    if requested is None:
        return True
    return timezone.now() >= requested + timedelta(milliseconds=settings.CARD_BUDGET_MS)


def card_fetch_and_route(order_id: int) -> str:
    """The after-commit task: fetch the card, score the order, route it on."""
    from orders.services.card import card_fetch
    from orders.services.health import health_score_order

    order = Order.objects.select_related("customer").filter(pk=order_id).first()
    if order is None:
        return "gone"
    card_fetch(order)
    health_score_order(order)
    return _route_on(order)


def _route_on(order: Order) -> str:
    from orders.services.errors import OrderActionError
    from orders.services.lifecycle import order_lock, order_route_forward

    order.refresh_from_db()
    if order.status != S.RECEIVED:
        return order.status
    order.__dict__["_card_ready"] = True
    try:
        with transaction.atomic():
            order_lock(order)
            order_route_forward(order)
    except OrderActionError:
        order.refresh_from_db()
    return order.status


def cards_maintain(limit: int = 200) -> dict:
    """The schedule: refresh unavailable parts (then rescore those orders) and route the
    orders still held in `received` by a card whose budget has passed."""
    from orders.services.card import card_refresh_unavailable

    refreshed = card_refresh_unavailable(limit=limit)
    cutoff = timezone.now() - timedelta(milliseconds=settings.CARD_BUDGET_MS)
    stuck = list(
        Order.objects.filter(status=S.RECEIVED, card__requested_at__lte=cutoff).order_by("id")[
            :limit
        ]
    )
    routed = sum(1 for order in stuck if _route_on(order) != S.RECEIVED)
    return {"refreshed": refreshed, "routed": routed}
