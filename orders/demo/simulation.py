"""Simulated order flow: who ordered what, when, and how each order moved through
the stages, as plain Python data that a writer turns into rows.

Two passes per order. `OrderDraft` draws every random choice up front (lines,
payment, dwell samples, holds, cancellation) from the seeded RNG in chronological
order; `timeline.timeline_build` then turns the draws into stage visits, given the day's incidents
and "now", without touching the RNG. So an incident (yesterday's slow picking,
today's pick-list printer fault) changes times but never shifts the random stream:
the same seed always yields the same orders.

Times are float seconds since the epoch (UTC) until a writer converts them.
"""

from __future__ import annotations

import bisect
import random
from collections.abc import Iterator
from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from orders.demo.catalog import COMPANIES, Catalog
from orders.demo.story import (
    CANCEL_REASONS,
    CARRIERS,
    COUPON_MINIMUM,
    DAY,
    DWELL_MINUTES,
    HOLD_REASONS,
    HOUR,
    HOUR_SLOWDOWN,
    HOURLY_SHAPE,
    MINUTE,
    NOTES,
    PARTNER_PAYMENTS,
    TEAM_USER,
    WEEKDAY_SHAPE,
    Incidents,
    LineDraft,
    OrderDraft,
    Visit,
    cumulative,
    to_datetime,
)
from orders.demo.timeline import timeline_build
from orders.models.orders import CENT
from orders.states import OrderStatus, PaymentMethod, PaymentStatus, Via

S = OrderStatus
# The alphabet of orders.models.order_number_new: 0-9 and A-Z without I, L, O, U.
NUMBER_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


class OrderFlow:
    """Generates the orders of a shop, day by day, oldest first."""

    def __init__(
        self,
        rng: random.Random,
        catalog: Catalog,
        *,
        now: datetime,
        days: int,
        orders_per_day: int,
        time_zone: str,
        backlog_size: int | None = None,
    ):
        self.rng = rng
        self.catalog = catalog
        self.now = now.timestamp()
        self.days = days
        self.orders_per_day = orders_per_day
        self.zone = ZoneInfo(time_zone)
        local_now = now.astimezone(self.zone)
        self.today = local_now.date()
        # Fixed offset for hour-of-day arithmetic (exact for zones without DST).
        self.offset = local_now.utcoffset().total_seconds()
        self.backlog_size = backlog_size or max(6, round(orders_per_day * 0.11))
        self.incidents = Incidents()
        if days >= 1:
            yesterday = self._day_start(self.today - timedelta(days=1))
            self.incidents.slow_picking = (yesterday + 14 * HOUR, yesterday + 18 * HOUR)
        self._hour_cum = list(cumulative(HOURLY_SHAPE))
        self._customer_cum = list(cumulative(catalog.customer_weights))
        self._product_cum = list(cumulative(catalog.product_weights))
        self._partner_index = {p.pk: i for i, p in enumerate(catalog.partners)}
        self._customer_partner = [self._partner_index[c.partner_id] for c in catalog.customers]
        self._numbers_by_day: dict[str, set[str]] = {}
        self._web_sequence = 0
        self._coupon_used = [0] * len(catalog.coupons)
        # Outstanding credit per customer as of now (so finance never over-grants).
        self._credit_outstanding: dict[int, Decimal] = {}
        # Units held by open orders, per stock key.
        self.reserved: dict[tuple[int, int], int] = {}
        self._on_hand = {key: level.on_hand for key, level in catalog.stock.items()}
        self.carriers_cum = list(cumulative([c[3] for c in CARRIERS]))

    # --- Public -------------------------------------------------------------------

    def generate(self) -> Iterator[list[OrderDraft]]:
        """Yield the orders in chronological batches (one day each, oldest first).

        The last ~36 hours are held back until the printer fault's start is known
        (it is placed so that today's picking backlog is clearly visible).
        """
        pending: list[OrderDraft] = []
        horizon = self.now - 36 * HOUR
        for back in range(self.days, -1, -1):
            day = self.today - timedelta(days=back)
            drafts = self._draft_day(day)
            settled = [d for d in drafts if d.created_at < horizon]
            pending.extend(d for d in drafts if d.created_at >= horizon)
            for draft in settled:
                self._settle(draft)
            if settled:
                yield settled
        self.incidents.printer_fault_since = self._printer_fault_start(pending)
        for draft in pending:
            self._settle(draft)
        self._hold_a_few(pending)
        if pending:
            yield pending

    # --- Drawing --------------------------------------------------------------------

    def _day_start(self, day) -> float:
        return datetime(day.year, day.month, day.day, tzinfo=self.zone).timestamp()

    def _draft_day(self, day) -> list[OrderDraft]:
        rng = self.rng
        start = self._day_start(day)
        count = round(self.orders_per_day * WEEKDAY_SHAPE[day.weekday()] * rng.uniform(0.9, 1.1))
        hours = rng.choices(range(24), cum_weights=self._hour_cum, k=count)
        times = sorted(start + h * HOUR + rng.random() * HOUR for h in hours)
        drafts = []
        for placed in times:
            if placed > self.now:
                break
            drafts.append(self._draft_order(placed))
        return drafts

    def _order_number(self, created: float) -> str:
        day = datetime.fromtimestamp(created, self.zone).strftime("%y%m%d")
        used = self._numbers_by_day.setdefault(day, set())
        if len(self._numbers_by_day) > 3:  # keep memory flat on long histories
            for old in sorted(self._numbers_by_day)[:-3]:
                del self._numbers_by_day[old]
        while True:
            suffix = "".join(self.rng.choices(NUMBER_ALPHABET, k=8))
            if suffix not in used:
                used.add(suffix)
                return f"SO{day}-{suffix}"

    def _external_ref(self, partner_code: str, created: float) -> str:
        rng = self.rng
        if partner_code == "tmall":
            return f"{rng.randrange(10**18, 10**19)}"
        if partner_code == "jd":
            return f"{rng.randrange(10**11, 10**12)}"
        if partner_code == "douyin":
            return f"69{rng.randrange(10**16, 10**17)}"
        self._web_sequence += 1
        day = datetime.fromtimestamp(created, self.zone).strftime("%y%m%d")
        return f"WEB{day}{self._web_sequence:06d}"

    def _draft_order(self, placed: float) -> OrderDraft:
        rng, catalog = self.rng, self.catalog
        created = min(placed + rng.uniform(5, 90), self.now)
        c_index = bisect.bisect_left(self._customer_cum, rng.random() * self._customer_cum[-1])
        c_index = min(c_index, len(catalog.customers) - 1)
        customer = catalog.customers[c_index]
        p_index = self._customer_partner[c_index]
        partner_code = catalog.partners[p_index].code

        n_lines = rng.choices((1, 2, 3, 4), weights=(0.6, 0.25, 0.1, 0.05))[0]
        products = set()
        while len(products) < n_lines:
            i = bisect.bisect_left(self._product_cum, rng.random() * self._product_cum[-1])
            products.add(min(i, len(catalog.products) - 1))
        lines, goods = [], Decimal("0")
        for product_index in sorted(products):
            product = catalog.products[product_index]
            quantity = rng.choices((1, 2, 3, 5), weights=(0.78, 0.15, 0.05, 0.02))[0]
            price = product.list_price
            if rng.random() < 0.06:  # a small negotiated discount, within 5%
                price = (price * Decimal(str(round(rng.uniform(0.95, 0.99), 2)))).quantize(CENT)
            lines.append(
                LineDraft(
                    product=product_index,
                    quantity=quantity,
                    unit_price=price,
                    is_customised=rng.random() < 0.03,
                    is_split_shipment=rng.random() < 0.02,
                )
            )
            goods += price * quantity

        coupon = None
        if rng.random() < 0.15:
            coupon = self._coupon_for(customer, goods, placed)
        discount = min(catalog.coupons[coupon].discount_amount, goods) if coupon is not None else 0
        total = (goods - discount).quantize(CENT)

        methods = PARTNER_PAYMENTS[partner_code]
        method = rng.choices([m for m, _ in methods], weights=[w for _, w in methods])[0]
        if method == PaymentMethod.CREDIT:
            outstanding = self._credit_outstanding.get(c_index, Decimal("0"))
            if (
                not customer.has_good_credit
                or outstanding + total > customer.credit_limit * Decimal("0.8")
            ):
                method = PaymentMethod.PREPAID
        reference = ""
        if method == PaymentMethod.PREPAID:
            if partner_code == "tmall" or rng.random() < 0.5:
                reference = f"ALIPAY{rng.randrange(10**21, 10**22)}"
            else:
                reference = f"WXPAY{rng.randrange(10**21, 10**22)}"
        elif method == PaymentMethod.TRANSFER:
            reference = f"TRF{rng.randrange(10**13, 10**14)}"
        elif method == PaymentMethod.CREDIT:
            reference = f"INV-{rng.randrange(10**7, 10**8)}"

        invoice_title = invoice_tax_id = ""
        roll = rng.random()
        if roll < 0.05:
            invoice_title = rng.choice(COMPANIES)
            invoice_tax_id = "91" + "".join(rng.choices("0123456789ABCDEFGHJKLMNPQRTUWXY", k=16))
        elif roll < 0.2:
            invoice_title = customer.name

        hold = cancel = None
        if rng.random() < 0.04:
            hold = (
                rng.choices(range(5), weights=(30, 25, 15, 15, 15))[0],
                rng.uniform(0.2, 0.8),
                rng.triangular(15, 180, 40),
                rng.randrange(len(HOLD_REASONS)),
                rng.triangular(2, 15, 5),
            )
        if rng.random() < 0.025:
            cancel = (
                rng.choices(range(5), weights=(45, 25, 15, 10, 5))[0],
                rng.uniform(0.1, 0.9),
                rng.randrange(len(CANCEL_REASONS)),
            )
        if method == PaymentMethod.TRANSFER:
            pay_delay = rng.triangular(5, 240, 30) * MINUTE
        elif method == PaymentMethod.CREDIT:
            pay_delay = rng.uniform(3, 25) * DAY
        else:
            pay_delay = 0.0
        carrier = bisect.bisect_left(self.carriers_cum, rng.random() * self.carriers_cum[-1])
        if partner_code == "jd" and rng.random() < 0.8:
            carrier = 3  # JD ships most of its orders with its own logistics
        _name, prefix, digits, _share = CARRIERS[carrier]
        draft = OrderDraft(
            number=self._order_number(created),
            external_ref=self._external_ref(partner_code, created),
            customer=c_index,
            partner=p_index,
            placed_at=placed,
            created_at=created,
            payment_method=method,
            payment_reference=reference,
            coupon=coupon,
            lines=lines,
            goods_amount=goods.quantize(CENT),
            discount_amount=Decimal(discount).quantize(CENT),
            total_amount=total,
            is_presale=any(catalog.products[line.product].is_presale for line in lines),
            is_expedited=rng.random() < 0.05,
            invoice_title=invoice_title,
            invoice_tax_id=invoice_tax_id,
            notes=rng.choice(NOTES) if rng.random() < 0.06 else "",
            dwell=[rng.triangular(low, high, mode) for low, mode, high in DWELL_MINUTES],
            episode_minutes=rng.uniform(120, 180),
            workaround_minutes=rng.uniform(45, 120) if rng.random() < 0.35 else None,
            hold=hold,
            cancel=cancel,
            pay_delay=pay_delay,
            carrier=carrier,
            tracking_number=prefix + "".join(rng.choices("0123456789", k=digits)),
            print_lead=rng.uniform(2, 8),
            photo_lead=rng.uniform(1, 4),
        )
        return draft

    def _coupon_for(self, customer, goods: Decimal, at: float) -> int | None:
        """The best coupon the customer may use on this order, if any."""
        at_dt = to_datetime(at)
        usable = [
            index
            for index, coupon in enumerate(self.catalog.coupons)
            if goods >= COUPON_MINIMUM.get(coupon.code, Decimal("0"))
            and not coupon.eligibility_problems(customer=customer, at=at_dt)
            and (coupon.quantity_total is None or self._coupon_used[index] < coupon.quantity_total)
        ]
        if not usable:
            return None
        best = max(usable, key=lambda i: self.catalog.coupons[i].discount_amount)
        self._coupon_used[best] += 1
        return best

    # --- Settling: the draws become a timeline ---------------------------------------

    def slowdown(self, at: float) -> float:
        return HOUR_SLOWDOWN[int(((at + self.offset) % DAY) // HOUR)]

    def _settle(self, draft: OrderDraft) -> None:
        timeline_build(draft, self)
        if not self._reserve_open_stock(draft):
            draft.stuck_in_stock = True
            timeline_build(draft, self)
        owes = (
            draft.payment_method == PaymentMethod.CREDIT
            and draft.payment_status != PaymentStatus.PAID
            and draft.status != S.CANCELLED
        )
        if owes:
            outstanding = self._credit_outstanding.get(draft.customer, Decimal("0"))
            self._credit_outstanding[draft.customer] = outstanding + draft.total_amount

    def _reserve_open_stock(self, draft: OrderDraft) -> bool:
        """Place the order's reservations; open ones take real availability.

        Mirrors services/stock.py: one warehouse for the whole order when any can,
        else each line from the preferred warehouses in turn. False on a shortage.
        """
        reserved_at = None
        for visit in draft.visits:
            if visit.stage == S.STOCK_RESERVATION and visit.target == S.PICKING:
                reserved_at = visit.left_at
        for line in draft.lines:
            line.reservations = []
        if reserved_at is None:
            return True
        is_open = draft.is_open
        released = draft.cancelled_at if draft.status == S.CANCELLED else None
        consumed = draft.dispatched_at
        warehouses = range(len(self.catalog.warehouses))

        def available(key):
            if is_open:
                return self._on_hand[key] - self.reserved.get(key, 0)
            return self._on_hand[key]

        plan = None
        for w in warehouses:
            if all(available((line.product, w)) >= line.quantity for line in draft.lines):
                plan = [[((line.product, w), line.quantity)] for line in draft.lines]
                break
        if plan is None:
            plan = []
            for line in draft.lines:
                picks, missing = [], line.quantity
                for w in warehouses:
                    key = (line.product, w)
                    take = min(missing, max(available(key), 0))
                    if take:
                        picks.append((key, take))
                        missing -= take
                    if not missing:
                        break
                if missing:
                    if is_open:
                        return False
                    picks = [((line.product, 0), line.quantity)]  # history: it shipped
                plan.append(picks)
        for line, picks in zip(draft.lines, plan, strict=True):
            for key, quantity in picks:
                line.reservations.append((key, quantity, reserved_at, released, consumed))
                if is_open:
                    self.reserved[key] = self.reserved.get(key, 0) + quantity
        return True

    def _printer_fault_start(self, recent: list[OrderDraft]) -> float | None:
        """Start today's printer fault early enough for a clear picking backlog:
        at least `backlog_size` orders stuck, the oldest over 3 hours."""
        entries = []
        for draft in recent:
            timeline_build(draft, self, ignore_fault=True)
            if draft.workaround_minutes is None:  # would stay stuck once the printer fails
                entries.extend(
                    v.entered_at
                    for v in draft.visits
                    if v.stage == S.PICKING and v.entered_at <= self.now - 5 * MINUTE
                )
        entries.sort(reverse=True)
        start = self.now - 3.25 * HOUR
        if len(entries) >= self.backlog_size:
            start = min(start, entries[self.backlog_size - 1])
        return max(start, self.now - 20 * HOUR)

    def _hold_a_few(self, recent: list[OrderDraft], wanted: int = 3) -> None:
        """Make sure a couple of today's orders are on hold right now."""
        held = sum(1 for d in recent if d.status == S.ON_HOLD)
        if held >= wanted:
            return

        def waiting(stages, minutes):
            return [
                d
                for d in recent
                if d.status in stages and self.now - d.stage_entered_at > minutes * MINUTE
            ]

        reviews = (S.SALES_REVIEW, S.FINANCE_REVIEW, S.STOCK_RESERVATION)
        candidates = waiting(reviews, 10)
        if len(candidates) < wanted - held:
            candidates = waiting((*reviews, S.QUALITY_CHECK), 1)
        for draft in self.rng.sample(candidates, min(wanted - held, len(candidates))):
            visit = draft.visits[-1]
            hold_at = visit.entered_at + (self.now - visit.entered_at) * 0.5
            reason = HOLD_REASONS[self.rng.randrange(len(HOLD_REASONS))][0]
            visit.left_at, visit.actor, visit.via, visit.reason = (
                hold_at,
                TEAM_USER[visit.stage],
                Via.MANUAL,
                reason,
            )
            visit.target, visit.transition = S.ON_HOLD, "hold"
            draft.visits.append(Visit(S.ON_HOLD, hold_at, None, None, "", "", None, None))
            draft.held_from = visit.stage
            draft.status = S.ON_HOLD
            draft.stage_entered_at = hold_at
            draft.updated_at = max(draft.updated_at, hold_at)
