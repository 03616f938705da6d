"""Request and response shapes of the partner API (DESIGN.md: the intake contract).

Requests are strict: unknown fields, wrong types, NUL characters (DRF's CharField
refuses them), out-of-range numbers are 400s naming the field. Responses never
expose anything a partner may not write back as if it were writable: the state,
the partner, the timeline and scores are read-only by construction (separate
request and response serializers).
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from orders.api.extensions import detail_section_fields
from orders.models import (
    EvaluationCard,
    Order,
    OrderHealth,
    OrderLine,
    PartStatus,
    Payment,
    SourceKind,
    StageVisit,
)
from orders.services.intake import MAX_AMOUNT, MAX_LINES, MAX_QUANTITY
from orders.states import Lane, PaymentMethod, Via


class StrictSerializer(serializers.Serializer):
    """Refuses fields it does not know: a typo must not be silently dropped."""

    def to_internal_value(self, data):
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError({name: [_("Unknown field.")] for name in unknown})
        return super().to_internal_value(data)


# Before 1901 Asia/Shanghai is local mean time (+08:05:43): such a date-time would be
# answered with an offset RFC 3339 does not allow, and no order or payment is that old.
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)


def _not_before_2000(value):
    if value is not None and value < EARLIEST:
        raise serializers.ValidationError(_("Dates before 2000 are not accepted."))


def _money(**kwargs):
    return serializers.DecimalField(
        max_digits=12, decimal_places=2, min_value=Decimal("0"), max_value=MAX_AMOUNT, **kwargs
    )


class CustomerIn(StrictSerializer):
    ref = serializers.CharField(max_length=64)
    name = serializers.CharField(max_length=120)
    phone = serializers.CharField(max_length=32, required=False, allow_blank=True, default="")
    email = serializers.EmailField(required=False, allow_blank=True, default="")


class AddressIn(StrictSerializer):
    name = serializers.CharField(max_length=120)
    phone = serializers.CharField(max_length=32)
    province = serializers.CharField(max_length=60)
    city = serializers.CharField(max_length=60)
    district = serializers.CharField(max_length=60, required=False, allow_blank=True, default="")
    line1 = serializers.CharField(max_length=200)
    postal_code = serializers.CharField(max_length=12, required=False, allow_blank=True, default="")


class LineIn(StrictSerializer):
    sku = serializers.CharField(max_length=64)
    quantity = serializers.IntegerField(min_value=1, max_value=MAX_QUANTITY)
    unit_price = _money(required=False, allow_null=True, default=None)


class InvoiceIn(StrictSerializer):
    title = serializers.CharField(max_length=120, required=False, allow_blank=True, default="")
    tax_id = serializers.CharField(max_length=40, required=False, allow_blank=True, default="")


class OrderIn(StrictSerializer):
    """The body of `POST /api/v1/orders/`."""

    external_ref = serializers.CharField(
        max_length=64, required=False, allow_blank=True, default=""
    )
    customer = CustomerIn()
    payment_method = serializers.ChoiceField(choices=PaymentMethod.choices)
    paid = serializers.BooleanField(required=False, default=False)
    coupon_code = serializers.CharField(
        max_length=40, required=False, allow_null=True, allow_blank=True, default=None
    )
    shipping_address = AddressIn()
    lines = LineIn(many=True, allow_empty=False, max_length=MAX_LINES)
    notes = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")
    placed_at = serializers.DateTimeField(
        required=False, allow_null=True, default=None, validators=[_not_before_2000]
    )
    amount_paid = _money(required=False, allow_null=True, default=None)
    invoice = InvoiceIn(required=False, allow_null=True, default=None)

    def validate_placed_at(self, value):
        if value is not None and value > timezone.now() + timezone.timedelta(minutes=10):
            raise serializers.ValidationError(_("The purchase time is in the future."))
        return value


class CancelIn(StrictSerializer):
    reason = serializers.CharField(max_length=300)


class PaymentIn(StrictSerializer):
    amount = serializers.DecimalField(
        max_digits=12, decimal_places=2, min_value=Decimal("0.01"), max_value=MAX_AMOUNT
    )
    reference = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")
    paid_at = serializers.DateTimeField(
        required=False, allow_null=True, default=None, validators=[_not_before_2000]
    )


# --- Responses -------------------------------------------------------------------


class LineOut(serializers.ModelSerializer):
    class Meta:
        model = OrderLine
        fields = ("sku", "name", "quantity", "list_price", "unit_price")
        read_only_fields = fields


class VisitOut(serializers.ModelSerializer):
    # How the visit ended; "" while it is still open (documented as such).
    via = serializers.ChoiceField(choices=Via.choices, allow_blank=True, read_only=True)

    class Meta:
        model = StageVisit
        fields = ("stage", "entered_at", "left_at", "via")
        read_only_fields = fields


class PaymentOut(serializers.ModelSerializer):
    class Meta:
        model = Payment
        fields = ("amount", "reference", "paid_at")
        read_only_fields = fields


class OrderSummaryOut(serializers.ModelSerializer):
    class Meta:
        model = Order
        fields = (
            "number",
            "external_ref",
            "status",
            "payment_method",
            "payment_status",
            "total_amount",
            "amount_paid",
            "placed_at",
            "created_at",
            "updated_at",
        )
        read_only_fields = fields


class CurrentStageOut(serializers.Serializer):
    stage = serializers.CharField()
    entered_at = serializers.DateTimeField()
    dwell_seconds = serializers.IntegerField()


class CardPartOut(serializers.Serializer):
    status = serializers.ChoiceField(choices=PartStatus.choices)
    fetched_at = serializers.DateTimeField(allow_null=True)
    error = serializers.CharField(allow_blank=True)
    data = serializers.DictField(help_text="The source's facts (shapes in the API guide).")


class EvaluationCardOut(serializers.Serializer):
    requested_at = serializers.DateTimeField()
    completed_at = serializers.DateTimeField(allow_null=True)
    customer = CardPartOut()
    inventory = CardPartOut()
    fulfilment = CardPartOut()

    def to_representation(self, card):
        part = {}
        for kind in SourceKind.values:
            data, status, fetched_at, error = card.part(kind)
            part[kind] = {"status": status, "fetched_at": fetched_at, "error": error, "data": data}
        return super().to_representation(
            {"requested_at": card.requested_at, "completed_at": card.completed_at, **part}
        )


class HealthOut(serializers.Serializer):
    score = serializers.IntegerField(min_value=0, max_value=100)
    lane = serializers.ChoiceField(choices=["fast", "normal", "watch"])
    breakdown = serializers.DictField(
        help_text="Per factor: its 0-100 value (null when its inputs are missing), weight, "
        "inputs and what is missing."
    )
    missing = serializers.ListField(child=serializers.CharField())
    scored_at = serializers.DateTimeField()


LANE_NAMES = {Lane.FAST: "fast", Lane.NORMAL: "normal", Lane.WATCH: "watch"}


class OrderOut(OrderSummaryOut):
    """An order as its partner sees it (`GET /orders/{number}/`, and the 201 of intake)."""

    customer_ref = serializers.CharField(source="customer.ref", read_only=True)
    lines = LineOut(many=True, read_only=True)
    current_stage = serializers.SerializerMethodField()
    timeline = serializers.SerializerMethodField()
    payments = PaymentOut(many=True, read_only=True)
    evaluation_card = serializers.SerializerMethodField()
    health = serializers.SerializerMethodField()

    class Meta(OrderSummaryOut.Meta):
        fields = (
            *OrderSummaryOut.Meta.fields,
            "customer_ref",
            "goods_amount",
            "discount_amount",
            "is_presale",
            "carrier",
            "tracking_number",
            "dispatched_at",
            "cancelled_at",
            "cancel_reason",
            "lines",
            "payments",
            "current_stage",
            "timeline",
            "evaluation_card",
            "health",
        )
        read_only_fields = fields

    @extend_schema_field(EvaluationCardOut(allow_null=True))
    def get_evaluation_card(self, order):
        card = EvaluationCard.objects.filter(order_id=order.pk).first()
        return EvaluationCardOut(card).data if card is not None else None

    @extend_schema_field(HealthOut(allow_null=True))
    def get_health(self, order):
        health = OrderHealth.objects.filter(order_id=order.pk).first()
        if health is None:
            return None
        return HealthOut(
            {
                "score": health.score,
                "lane": LANE_NAMES.get(order.lane, "normal"),
                "breakdown": health.breakdown,
                "missing": health.missing,
                "scored_at": health.scored_at,
            }
        ).data

    def get_fields(self):
        # Plus the sections other apps register (orders.api.extensions), e.g. the open
        # exception cases: orders imports none of those apps.
        fields = super().get_fields()
        fields.update(detail_section_fields(taken=fields))
        return fields

    @extend_schema_field(CurrentStageOut(allow_null=True))
    def get_current_stage(self, order):
        if order.status in ("dispatched", "cancelled"):
            return None
        dwell = int((timezone.now() - order.stage_entered_at).total_seconds())
        return CurrentStageOut(
            {"stage": order.status, "entered_at": order.stage_entered_at, "dwell_seconds": dwell}
        ).data

    @extend_schema_field(VisitOut(many=True))
    def get_timeline(self, order):
        visits = sorted(order.visits.all(), key=lambda v: (v.entered_at, v.pk))
        return VisitOut(visits, many=True).data


class OrderCreatedOut(OrderSummaryOut):
    """The 201 of intake: the order as created, without a second read of its history
    (`GET /orders/{number}/` has the timeline and payments)."""

    customer_ref = serializers.CharField(source="customer.ref", read_only=True)
    lines = LineOut(many=True, read_only=True)
    current_stage = serializers.SerializerMethodField()

    class Meta(OrderSummaryOut.Meta):
        fields = (
            *OrderSummaryOut.Meta.fields,
            "customer_ref",
            "goods_amount",
            "discount_amount",
            "is_presale",
            "lines",
            "current_stage",
        )
        read_only_fields = fields

    get_current_stage = OrderOut.get_current_stage
