"""django-q2 jobs of the orders app: each takes no state and calls a service.

The ORM broker may deliver a task twice: every service here is idempotent.
"""


def breakers_evaluate() -> dict:
    from orders.services.breakers import breakers_evaluate as evaluate

    return evaluate()


def backlog_alarm_scan() -> dict:
    from orders.services.alarms import backlog_alarm_scan as scan

    return scan()


def claims_expire() -> dict:
    from orders.services.queues import orders_claims_expire, orders_claims_reconcile

    return {"expired": orders_claims_expire(), "reconciled": orders_claims_reconcile()}


def surge_grants_expire() -> int:
    from orders.services.surge import surge_grants_expire as expire

    return expire()


def webhook_deliver(delivery_id: int) -> str:
    from orders.services.webhooks import webhook_deliver as deliver

    delivery = deliver(delivery_id=delivery_id)
    return delivery.status if delivery is not None else "skipped"


def webhooks_sweep() -> int:
    from orders.services.webhooks import webhooks_sweep as sweep

    return sweep()


def records_purge() -> dict:
    from orders.services.webhooks import records_purge as purge

    return purge()


def health_rescore_open() -> dict:
    """Every open order's health score and lane (the time-slot pressure moves with load)."""
    from orders.services.health import health_rescore_open as rescore

    return rescore()


def order_health_score(order_id: int) -> int | None:
    """One order's health score, e.g. after its evaluation card is complete."""
    from orders.models import Order
    from orders.services.health import health_score_order

    order = Order.objects.filter(pk=order_id).first()
    return health_score_order(order).score if order is not None else None


def card_fetch_and_route(order_id: int) -> str:
    """After intake with HTTP connectors: fetch the card, score, route the order on."""
    from orders.services.evaluation import card_fetch_and_route as fetch

    return fetch(order_id)


def cards_maintain() -> dict:
    """Refresh the card parts a source could not give; route orders whose card is late."""
    from orders.services.evaluation import cards_maintain as maintain

    return maintain()
