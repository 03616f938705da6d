"""Fetch an order's evaluation card: CRM, ERP and WMS at once, within a time budget.

`card_fetch` calls the three sources concurrently (one thread each) and waits at most
`CARD_BUDGET_MS`. A part whose source failed, is behind an open circuit breaker, or
had not answered by then is marked unavailable with the reason and keeps the data it
had (with its older `fetched_at`); the schedule calling `card_refresh_unavailable`
fetches those parts again later. The order is never touched: a slow or broken system
makes a poorer card, never a lost or refused order.

Database use, on purpose:
- the card is written once per fetch (one INSERT, or one UPDATE of the fetched
  parts), after every part is in or the budget has run out; until the first fetch
  completes the order has no card;
- worker threads only read (the local sources), and close their connection when
  done; the breaker's bookkeeping happens in the calling thread, so a call still
  running after the budget writes nothing when it finally returns;
- inside a transaction (a test, or a caller that did not wait for the commit) the
  local sources run in the calling thread: another connection would not see the
  rows this transaction has not committed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from datetime import datetime

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from orders.connectors import Source, SourceError, connector_for
from orders.connectors.breaker import (
    breaker_allow,
    breaker_record_failure,
    breaker_record_success,
)
from orders.models import ConnectorState, EvaluationCard, Order, PartStatus, SourceKind
from orders.states import TERMINAL_STATES

log = logging.getLogger(__name__)

PARTS = tuple(SourceKind.values)
ERROR_LENGTH = EvaluationCard._meta.get_field("customer_error").max_length


def card_fetch(
    order: Order, *, budget_ms: int | None = None, kinds: Iterable[str] | None = None
) -> EvaluationCard:
    """Fetch `order`'s card (all three parts, or only `kinds`) and save it once.

    Returns within about `budget_ms` (default `CARD_BUDGET_MS`) whatever the sources
    do. Call it after the order's transaction has committed.
    """
    budget_ms = budget_ms or settings.CARD_BUDGET_MS
    deadline = time.monotonic() + budget_ms / 1000
    wanted = set(PARTS if kinds is None else kinds)
    kinds = [kind for kind in PARTS if kind in wanted]
    requested_at = timezone.now()
    # Everything the sources read from the order, loaded here: HTTP sources then need
    # no database at all in their threads.
    order = (
        Order.objects.select_related("customer__partner").prefetch_related("lines").get(pk=order.pk)
    )
    card = EvaluationCard.objects.filter(order_id=order.pk).first()

    outcomes = _parts_fetch(order, kinds=kinds, deadline=deadline, budget_ms=budget_ms)
    finished_at = timezone.now()

    is_new = card is None
    if is_new:
        card = EvaluationCard(order=order, requested_at=requested_at)
    fields = []
    for kind, outcome in outcomes.items():
        _part_set(card, kind, outcome, at=finished_at)
        fields += [kind, f"{kind}_status", f"{kind}_fetched_at", f"{kind}_error"]
    if len(kinds) == len(PARTS):
        card.requested_at = requested_at
        fields.append("requested_at")
    if len(kinds) == len(PARTS) or card.completed_at is None:
        card.completed_at = finished_at
        fields.append("completed_at")
    _card_save(card, is_new=is_new, fields=fields)
    return card


def card_build_inline(order: Order) -> EvaluationCard:
    """The card of an order intake has just written, with local sources only: read in
    the intake's transaction from the order as intake holds it (customer and lines in
    memory), no breaker (this app's own tables), one INSERT."""
    card = EvaluationCard(order=order, requested_at=timezone.now())
    for kind in PARTS:
        outcome = _source_call(connector_for(kind), order, deadline=None)
        _part_set(card, kind, outcome, at=card.requested_at)
    card.completed_at = timezone.now()
    card.save(force_insert=True)
    return card


def _part_set(card: EvaluationCard, kind: str, outcome: dict | SourceError, *, at) -> None:
    """Put one source's answer on the card, or mark the part unavailable with the reason
    (it then keeps its last good data and the time that was fetched)."""
    if isinstance(outcome, SourceError):
        setattr(card, f"{kind}_status", PartStatus.UNAVAILABLE)
        setattr(card, f"{kind}_error", str(outcome)[:ERROR_LENGTH])
        return
    setattr(card, kind, outcome)
    setattr(card, f"{kind}_status", PartStatus.OK)
    setattr(card, f"{kind}_fetched_at", at)
    setattr(card, f"{kind}_error", "")


def _card_save(card: EvaluationCard, *, is_new: bool, fields: list[str]) -> None:
    if not is_new:
        card.save(update_fields=fields)
        return
    try:
        with transaction.atomic():
            card.save(force_insert=True)
    except IntegrityError:
        # Another fetch of the same order saved its card first: update that one.
        card.pk = EvaluationCard.objects.only("pk").get(order_id=card.order_id).pk
        card._state.adding = False
        card.save(update_fields=fields)


def _parts_fetch(
    order: Order, *, kinds: list[str], deadline: float, budget_ms: int
) -> dict[str, dict | SourceError]:
    """Each part's data, or the SourceError saying why it is unavailable."""
    outcomes: dict[str, dict | SourceError] = {}
    states = {s.kind: s for s in ConnectorState.objects.filter(kind__in=kinds)}
    callable_kinds = []
    for kind in kinds:
        try:
            breaker_allow(kind, state=states.get(kind))
        except SourceError as exc:
            outcomes[kind] = exc
        else:
            callable_kinds.append(kind)

    sources = {kind: connector_for(kind) for kind in callable_kinds}
    in_transaction = connection.in_atomic_block
    inline = [k for k in callable_kinds if in_transaction and sources[k].needs_database]
    threaded = [k for k in callable_kinds if k not in inline]

    executor = ThreadPoolExecutor(max_workers=3, thread_name_prefix="card-fetch")
    try:
        futures: dict[str, Future] = {
            kind: executor.submit(_source_call_in_thread, sources[kind], order, deadline)
            for kind in threaded
        }
        for kind in inline:
            outcomes[kind] = _source_call(sources[kind], order, deadline)
        wait(futures.values(), timeout=max(deadline - time.monotonic(), 0))
    finally:
        # Do not wait for a source still running: its answer comes too late to count.
        executor.shutdown(wait=False, cancel_futures=True)
    for kind, future in futures.items():
        if future.done() and not future.cancelled():
            outcomes[kind] = future.result()  # _source_call never raises
        else:
            outcomes[kind] = SourceError(_("timed out after %(ms)d ms") % {"ms": budget_ms})

    for kind in callable_kinds:
        outcome = outcomes[kind]
        if isinstance(outcome, SourceError):
            log.warning("evaluation card: %s unavailable for order %s: %s", kind, order.pk, outcome)
            breaker_record_failure(kind, str(outcome))
        else:
            breaker_record_success(kind)
    return dict(sorted(outcomes.items(), key=lambda item: PARTS.index(item[0])))


def _source_call(source: Source, order: Order, deadline: float) -> dict | SourceError:
    try:
        return source.fetch(order, deadline=deadline)
    except SourceError as exc:
        return exc
    except Exception as exc:
        # A bug or an unexpected library error: the part is unavailable, the order fine.
        log.exception("evaluation card: %s source crashed for order %s", source.kind, order.pk)
        return SourceError(f"{type(exc).__name__}: {exc}")


def _source_call_in_thread(source: Source, order: Order, deadline: float) -> dict | SourceError:
    try:
        return _source_call(source, order, deadline)
    finally:
        # This thread's own connection (local sources): never left open behind.
        connection.close()


def card_refresh_unavailable(limit: int = 200) -> int:
    """Fetch again the unavailable parts of open orders' cards, oldest first.

    Parts whose source is behind an open breaker are left for a later run. Returns
    how many cards were fetched. For a schedule (every minute or so).
    """
    now = timezone.now()
    open_kinds = set(
        ConnectorState.objects.filter(open_until__gt=now).values_list("kind", flat=True)
    )
    unavailable = (
        Q(customer_status=PartStatus.UNAVAILABLE)
        | Q(inventory_status=PartStatus.UNAVAILABLE)
        | Q(fulfilment_status=PartStatus.UNAVAILABLE)
    )
    cards = (
        EvaluationCard.objects.filter(unavailable)
        .exclude(order__status__in=TERMINAL_STATES)
        .select_related("order")
        .order_by("requested_at")[:limit]
    )
    fetched = 0
    for card in cards:
        kinds = [
            kind
            for kind in PARTS
            if getattr(card, f"{kind}_status") == PartStatus.UNAVAILABLE and kind not in open_kinds
        ]
        if kinds:
            card_fetch(card.order, kinds=kinds)
            fetched += 1
    return fetched


def card_last_good(kind: str) -> datetime | None:
    """When `kind`'s source last answered well (for "unavailable since / last good at")."""
    return (
        ConnectorState.objects.filter(kind=kind).values_list("last_success_at", flat=True).first()
    )
