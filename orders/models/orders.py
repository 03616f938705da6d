from __future__ import annotations

import functools
import secrets
from decimal import Context, Decimal

from django.conf import settings
from django.db import connection, models
from django.db.models import Q, Sum
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django_fsm import RETURN_VALUE, ConcurrentTransitionMixin, FSMField, transition

from orders.models.catalog import Coupon
from orders.models.customers import Customer, Partner
from orders.states import (
    CANCELLABLE,
    MAIN_LINE,
    OPEN_STAGES,
    Lane,
    OrderStatus,
    PaymentMethod,
    PaymentStatus,
    Source,
)

S = OrderStatus
ZERO = Decimal("0.00")
CENT = Decimal("0.01")
# Credit finance has granted: the order passed finance review and is not cancelled.
CREDIT_ACCEPTED = (S.STOCK_RESERVATION, S.PICKING, S.QUALITY_CHECK, S.DISPATCHED)
# Crockford's base32 without look-alikes: safe to read out on the phone.
_NUMBER_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def order_number_new(at=None) -> str:
    """A new order number, e.g. SO261124-7K3M9QXA: date + 40 random bits.

    Random rather than sequential: no counter row to contend on under bursty intake,
    and partners cannot guess each other's volume. Collisions are refused by the
    unique index and retried by the intake service.
    """
    day = timezone.localtime(at or timezone.now()).strftime("%y%m%d")
    suffix = "".join(secrets.choice(_NUMBER_ALPHABET) for _ in range(8))
    return f"SO{day}-{suffix}"


# Permission codenames per stage team (a Django group each, see migrations).
STAGE_PERMISSIONS = {
    S.RECEIVED: "orders.process_received",
    S.SALES_REVIEW: "orders.process_sales_review",
    S.FINANCE_REVIEW: "orders.process_finance_review",
    S.STOCK_RESERVATION: "orders.process_stock_reservation",
    S.PICKING: "orders.process_picking",
    S.QUALITY_CHECK: "orders.process_quality_check",
}


class OrderQuerySet(models.QuerySet):
    def open(self):
        return self.filter(status__in=OPEN_STAGES)

    def in_stage(self, stage: str):
        return self.filter(status=stage)


class Order(ConcurrentTransitionMixin, models.Model):
    """A customer's order on its way from purchase to dispatch.

    The state only changes through the transition methods below, called by the
    services in `orders.services` (which also write the timeline and the audit
    log). `ConcurrentTransitionMixin` refuses a save whose state changed in the
    database since the object was read: two people can never both move an order.
    """

    number = models.CharField(_("order number"), max_length=32, unique=True)
    external_ref = models.CharField(_("external reference"), max_length=64, blank=True)
    partner = models.ForeignKey(
        Partner,
        verbose_name=_("channel"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="orders",
    )
    source = models.CharField(_("source"), max_length=10, choices=Source, default=Source.ADMIN)
    customer = models.ForeignKey(
        Customer, verbose_name=_("customer"), on_delete=models.PROTECT, related_name="orders"
    )
    status = FSMField(
        _("stage"), choices=OrderStatus, default=S.RECEIVED, protected=True, db_index=False
    )
    # The stage an on-hold order returns to when released.
    held_from = models.CharField(
        _("held from stage"), max_length=20, choices=OrderStatus, blank=True
    )
    # When the current stage's open visit began: the current dwell without a join.
    stage_entered_at = models.DateTimeField(_("in stage since"), default=timezone.now)

    payment_method = models.CharField(
        _("payment method"), max_length=10, choices=PaymentMethod, default=PaymentMethod.PREPAID
    )
    payment_status = models.CharField(
        _("payment status"), max_length=10, choices=PaymentStatus, default=PaymentStatus.UNPAID
    )
    goods_amount = models.DecimalField(
        _("goods amount (CNY)"), max_digits=12, decimal_places=2, default=ZERO
    )
    discount_amount = models.DecimalField(
        _("discount (CNY)"), max_digits=12, decimal_places=2, default=ZERO
    )
    total_amount = models.DecimalField(
        _("total (CNY)"), max_digits=12, decimal_places=2, default=ZERO
    )
    amount_paid = models.DecimalField(
        _("amount paid (CNY)"), max_digits=12, decimal_places=2, default=ZERO
    )
    coupon = models.ForeignKey(
        Coupon,
        verbose_name=_("coupon"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="orders",
    )
    coupon_verified_at = models.DateTimeField(_("coupon verified at"), null=True, blank=True)
    coupon_verified_via = models.CharField(_("coupon verified by"), max_length=12, blank=True)

    is_presale = models.BooleanField(_("presale"), default=False)
    is_expedited = models.BooleanField(
        _("expedited"), default=False, help_text=_("The customer asked for express handling.")
    )

    ship_name = models.CharField(_("recipient"), max_length=120)
    ship_phone = models.CharField(_("recipient phone"), max_length=32)
    ship_province = models.CharField(_("province"), max_length=60)
    ship_city = models.CharField(_("city"), max_length=60)
    ship_district = models.CharField(_("district"), max_length=60, blank=True)
    ship_line1 = models.CharField(_("address"), max_length=200)
    ship_postal_code = models.CharField(_("postal code"), max_length=12, blank=True)

    invoice_title = models.CharField(_("invoice title"), max_length=120, blank=True)
    invoice_tax_id = models.CharField(_("taxpayer ID"), max_length=40, blank=True)
    notes = models.TextField(_("notes"), blank=True)

    placed_at = models.DateTimeField(_("placed at"), default=timezone.now)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    updated_at = models.DateTimeField(_("updated at"), default=timezone.now)

    pick_list_printed_at = models.DateTimeField(_("pick list printed at"), null=True, blank=True)
    qc_photo = models.FileField(_("QC photo"), upload_to="qc/%Y/%m/", blank=True)
    qc_photo_at = models.DateTimeField(_("QC photo taken at"), null=True, blank=True)
    qc_photo_waived_at = models.DateTimeField(_("QC photo waived at"), null=True, blank=True)

    carrier = models.CharField(_("carrier"), max_length=60, blank=True)
    tracking_number = models.CharField(_("tracking number"), max_length=64, blank=True)
    dispatched_at = models.DateTimeField(_("dispatched at"), null=True, blank=True)
    cancelled_at = models.DateTimeField(_("cancelled at"), null=True, blank=True)
    cancel_reason = models.CharField(_("cancellation reason"), max_length=300, blank=True)

    # Work queue of the current stage: who is working on it (claim-next), whether it
    # is pinned to the top (a breaker trip or a supervisor), and its lane (the health
    # score puts good orders in the fast lane and risky ones on watch).
    claimed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("claimed by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,
    )
    claimed_at = models.DateTimeField(_("claimed at"), null=True, blank=True)
    claim_touched_at = models.DateTimeField(_("claim last active"), null=True, blank=True)
    pinned = models.BooleanField(_("pinned"), default=False, db_default=False)
    lane = models.PositiveSmallIntegerField(
        _("lane"), choices=Lane, default=Lane.NORMAL, db_default=Lane.NORMAL
    )

    # Bumped by every service that edits the order's details: a stale edit form is
    # refused instead of silently overwriting someone else's change.
    version = models.PositiveIntegerField(_("version"), default=1)

    objects = OrderQuerySet.as_manager()

    class Meta:
        verbose_name = _("order")
        verbose_name_plural = _("orders")
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["partner", "external_ref"],
                condition=~Q(external_ref=""),
                name="order_external_ref_per_partner",
            ),
            models.CheckConstraint(
                condition=Q(amount_paid__gte=0) & Q(total_amount__gte=0), name="order_amounts"
            ),
        ]
        indexes = [
            # "Orders in stage X, oldest first" and the age buckets.
            models.Index(fields=["status", "placed_at"], name="order_status_placed"),
            # Current dwell per stage, the oldest waiting order of a stage.
            models.Index(fields=["status", "stage_entered_at"], name="order_status_dwell"),
            models.Index(fields=["updated_at"], name="order_updated"),
            # The work queue of a stage: unclaimed, pinned first, fast lane, oldest.
            models.Index(
                "status",
                models.F("pinned").desc(),
                "lane",
                "placed_at",
                condition=Q(claimed_by=None),
                name="order_queue",
            ),
            # Who holds what (my to-do, claim expiry, counter reconciliation).
            models.Index(
                fields=["claimed_by", "status"],
                condition=Q(claimed_by__isnull=False),
                name="order_claims",
            ),
            models.Index(fields=["external_ref"], name="order_external_ref"),
        ]
        permissions = [
            ("process_received", _("Can accept received orders")),
            ("process_sales_review", _("Can complete sales review")),
            ("process_finance_review", _("Can complete finance review")),
            ("process_stock_reservation", _("Can reserve stock")),
            ("process_picking", _("Can print pick lists and complete picking")),
            ("process_quality_check", _("Can complete quality check and dispatch")),
            ("hold_order", _("Can put orders on hold")),
            ("release_order", _("Can release held orders")),
            ("cancel_order", _("Can cancel orders")),
            ("record_payment", _("Can record payments")),
        ]

    def __str__(self):
        return self.number

    def refresh_from_db(self, using=None, fields=None, from_queryset=None):
        """Reload every column from the database, thread-safely.

        django-fsm-2's FSMModelMixin.refresh_from_db switches the *class-level*
        `protected` flag of the state field off and on around Django's refresh, so
        two threads refreshing orders at once make each other fail with "Direct
        status modification is not allowed" (found by the concurrency test; gunicorn
        threads would hit it too). Here the row is read once and its values are put
        into the instance's __dict__, leaving the field's flag alone.
        """
        queryset = from_queryset if from_queryset is not None else type(self)._base_manager
        fresh = queryset.using(using or self._state.db).get(pk=self.pk)
        names = [f.attname for f in self._meta.concrete_fields]
        if fields:
            wanted = set(fields)
            names = [n for n in names if n in wanted or n.removesuffix("_id") in wanted]
        for name in names:
            self.__dict__[name] = fresh.__dict__[name]
        self._state.fields_cache.clear()
        self.__dict__.pop("_prefetched_objects_cache", None)
        self._state.db = fresh._state.db
        self._update_initial_state()

    # --- Facts the guards read -------------------------------------------------

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STAGES

    @property
    def payment_required_before_dispatch(self) -> bool:
        return self.payment_method in (PaymentMethod.PREPAID, PaymentMethod.TRANSFER)

    @property
    def is_paid(self) -> bool:
        return self.amount_paid >= self.total_amount

    @property
    def amount_due(self) -> Decimal:
        return max(self.total_amount - self.amount_paid, ZERO)

    def coupon_check_done(self) -> bool:
        return self.coupon_id is None or self.coupon_verified_at is not None

    def credit_within_limit(self) -> bool:
        if self.payment_method != PaymentMethod.CREDIT:
            return True
        return self.credit_exposure() <= self.customer.credit_limit

    def credit_exposure(self) -> Decimal:
        """What the customer would owe on credit with this order accepted: the unpaid
        rest of their other credit orders finance already accepted (those still
        waiting for review have not been granted credit yet), plus this one's."""
        # Hand-written SQL: every intake asks this once (the evaluation card), and the
        # ORM takes longer to compile the query (an OR, two exclusions, two sums) than
        # the database takes to answer it. orders/tests/test_credit_exposure.py holds
        # it equal to the ORM's form of the same question.
        params = [
            self.customer_id,
            PaymentMethod.CREDIT,
            PaymentStatus.PAID,
            *CREDIT_ACCEPTED,
            S.ON_HOLD,
            *CREDIT_ACCEPTED,
        ]
        sql = _credit_outstanding_sql()
        if self.pk is not None:
            sql += f" AND {Order._meta.pk.column} <> %s"
            params.append(self.pk)
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            total, paid = cursor.fetchone()
        return _money(total) - _money(paid) + self.amount_due

    def stock_fully_reserved(self) -> bool:
        lines = list(self.lines.all())
        if not lines:
            return False
        from orders.models.lines import StockReservation

        reserved = {
            row["line_id"]: row["quantity"]
            for row in StockReservation.objects.filter(line__order=self, released_at=None)
            .values("line_id")
            .annotate(quantity=Sum("quantity"))
        }
        return all(reserved.get(line.pk, 0) >= line.quantity for line in lines)

    def pick_list_printed(self) -> bool:
        return self.pick_list_printed_at is not None

    def qc_photo_done(self) -> bool:
        return bool(self.qc_photo) or self.qc_photo_waived_at is not None

    def payment_allows_dispatch(self) -> bool:
        return not self.payment_required_before_dispatch or self.is_paid

    # --- Transitions: state only; services do the rest --------------------------

    @transition(
        field=status,
        source=S.RECEIVED,
        target=S.SALES_REVIEW,
        permission=STAGE_PERMISSIONS[S.RECEIVED],
        custom={"label": _("Accept order"), "admin": True},
    )
    def accept(self):
        pass

    @transition(
        field=status,
        source=S.SALES_REVIEW,
        target=S.FINANCE_REVIEW,
        conditions=[coupon_check_done],
        permission=STAGE_PERMISSIONS[S.SALES_REVIEW],
        custom={"label": _("Confirm sales review"), "admin": True},
    )
    def approve_sales(self):
        pass

    @transition(
        field=status,
        source=S.FINANCE_REVIEW,
        target=S.STOCK_RESERVATION,
        conditions=[credit_within_limit],
        permission=STAGE_PERMISSIONS[S.FINANCE_REVIEW],
        custom={"label": _("Approve price check"), "admin": True},
    )
    def approve_finance(self):
        pass

    @transition(
        field=status,
        source=S.STOCK_RESERVATION,
        target=S.PICKING,
        conditions=[stock_fully_reserved],
        permission=STAGE_PERMISSIONS[S.STOCK_RESERVATION],
        custom={"label": _("Reserve stock"), "admin": True},
    )
    def reserve_stock(self):
        pass

    @transition(
        field=status,
        source=S.PICKING,
        target=S.QUALITY_CHECK,
        conditions=[pick_list_printed],
        permission=STAGE_PERMISSIONS[S.PICKING],
        custom={"label": _("Picking done"), "admin": True},
    )
    def finish_picking(self):
        pass

    @transition(
        field=status,
        source=S.QUALITY_CHECK,
        target=S.DISPATCHED,
        conditions=[qc_photo_done, payment_allows_dispatch],
        permission=STAGE_PERMISSIONS[S.QUALITY_CHECK],
        custom={"label": _("Dispatch"), "admin": True, "form": "orders.forms.DispatchForm"},
    )
    def dispatch(self, *, carrier: str = "", tracking_number: str = "", at=None):
        self.carrier = carrier
        self.tracking_number = tracking_number
        self.dispatched_at = at or timezone.now()

    @transition(
        field=status,
        source=MAIN_LINE,
        target=S.ON_HOLD,
        permission="orders.hold_order",
        custom={"label": _("Put on hold"), "admin": True, "form": "orders.forms.ReasonForm"},
    )
    def hold(self):
        self.held_from = self.status

    @transition(
        field=status,
        source=S.ON_HOLD,
        target=RETURN_VALUE(*MAIN_LINE),
        permission="orders.release_order",
        custom={"label": _("Release hold"), "admin": True, "form": "orders.forms.ReasonForm"},
    )
    def release(self):
        stage = self.held_from
        self.held_from = ""
        return stage

    @transition(
        field=status,
        source=CANCELLABLE,
        target=S.CANCELLED,
        permission="orders.cancel_order",
        custom={"label": _("Cancel order"), "admin": True, "form": "orders.forms.ReasonForm"},
    )
    def cancel(self, *, reason: str = "", at=None):
        self.cancel_reason = reason[:300]
        self.cancelled_at = at or timezone.now()


@functools.cache
def _credit_outstanding_sql() -> str:
    """credit_exposure's query, without the exclusion of the order itself."""
    field = {f.name: f.column for f in Order._meta.concrete_fields}
    placeholders = ", ".join(["%s"] * len(CREDIT_ACCEPTED))
    return (
        f"SELECT SUM({field['total_amount']}), SUM({field['amount_paid']}) "
        f"FROM {Order._meta.db_table} "
        f"WHERE {field['customer']} = %s AND {field['payment_method']} = %s "
        f"AND {field['payment_status']} <> %s "
        f"AND ({field['status']} IN ({placeholders}) "
        f"OR ({field['status']} = %s AND {field['held_from']} IN ({placeholders})))"
    )


def _money(value) -> Decimal:
    """A SUM of amounts as the database returns it: a Decimal from PostgreSQL, a float
    (or int) from SQLite, which Django's ORM turns into a Decimal the same way."""
    if value is None:
        return ZERO
    if isinstance(value, Decimal):
        return value
    return Context(prec=15).create_decimal_from_float(float(value)).quantize(CENT)
