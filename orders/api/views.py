"""Partner endpoints: orders under `/api/v1/orders/`, each partner seeing only its own."""

from __future__ import annotations

import re
from datetime import UTC

from django.db.models import Prefetch
from django.shortcuts import get_object_or_404
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.pagination import CursorPagination
from rest_framework.response import Response

from orders.api.auth import IsPartner, PartnerKeyAuthentication, PartnerKeyThrottle
from orders.api.errors import ApiError
from orders.api.intake import MAX_KEY_LENGTH, order_intake, request_fingerprint
from orders.api.parsers import JSONParser
from orders.api.schema import error_responses
from orders.api.serializers import (
    CancelIn,
    OrderCreatedOut,
    OrderIn,
    OrderOut,
    OrderSummaryOut,
    PaymentIn,
    PaymentOut,
)
from orders.models import Order, StageVisit
from orders.services import (
    InvalidOrderInput,
    TransitionRefused,
    order_cancel,
    order_record_payment,
)
from orders.services.intake import MAX_AMOUNT
from orders.states import OrderStatus, Via


class OrderCursor(CursorPagination):
    ordering = "-id"
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200

    def decode_cursor(self, request):
        # DRF answers a bad cursor with a 404 and trusts the position inside it: a
        # hand-made cursor ("p=abc", or a number too big for the column) would
        # reach the database and fail there. A cursor is a parameter: 400.
        try:
            cursor = super().decode_cursor(request)
        except NotFound:
            cursor = False
        if cursor is False or (
            cursor is not None
            and cursor.position is not None
            and not re.fullmatch(r"[0-9]{1,18}", cursor.position)
        ):
            raise ApiError(
                code="invalid_parameter",
                message=str(self.invalid_cursor_message),
                details={"cursor": request.query_params.get(self.cursor_query_param, "")},
            )
        return cursor


IDEMPOTENCY_HEADER = OpenApiParameter(
    "Idempotency-Key",
    str,
    OpenApiParameter.HEADER,
    required=True,
    description="A unique key per order attempt; retries with the same key and body "
    "return the first answer and create nothing (kept at least 24 h).",
)


def _datetime_param(request, name: str):
    raw = request.query_params.get(name)
    if raw is None:
        return None
    try:
        # parse_datetime raises ValueError for well-formed impossible dates (month 13);
        # a naive value is read in the server's time zone; converting to UTC may
        # overflow at the ends of the calendar (year 1, year 9999).
        value = parse_datetime(raw.replace(" ", "+"))
        if value is not None:
            if timezone.is_naive(value):
                value = timezone.make_aware(value)
            value = value.astimezone(UTC)
    except (ValueError, OverflowError):
        value = None
    if value is None:
        raise ApiError(
            code="invalid_parameter",
            message=_("“%(name)s” must be an ISO 8601 date-time.") % {"name": name},
            details={name: raw},
        )
    return value


class PartnerOrderViewSet(viewsets.GenericViewSet):
    """Orders of the calling partner (API key)."""

    authentication_classes = [PartnerKeyAuthentication]
    permission_classes = [IsPartner]
    throttle_classes = [PartnerKeyThrottle]
    parser_classes = [JSONParser]
    lookup_field = "number"
    lookup_value_regex = r"[A-Za-z0-9-]{1,32}"
    pagination_class = OrderCursor
    serializer_class = OrderOut

    def get_queryset(self):
        return Order.objects.filter(partner=self.request.user.partner)

    def _detail(self, number: str) -> Order:
        return get_object_or_404(
            self.get_queryset()
            .select_related("customer")
            .prefetch_related(
                "lines", "payments", Prefetch("visits", queryset=StageVisit.objects.all())
            ),
            number=number,
        )

    @extend_schema(
        operation_id="orders_list",
        parameters=[
            OpenApiParameter("status", str, description="a stage slug, e.g. picking"),
            OpenApiParameter("number", str),
            OpenApiParameter("created_since", str, description="ISO 8601 date-time"),
            OpenApiParameter("updated_since", str, description="ISO 8601 date-time"),
        ],
        responses={200: OrderSummaryOut(many=True), **error_responses(400, 401, 429)},
    )
    def list(self, request):
        orders = self.get_queryset()
        stage = request.query_params.get("status")
        if stage is not None:
            if stage not in OrderStatus.values:
                raise ApiError(
                    code="invalid_parameter",
                    message=_("Unknown status “%(status)s”.") % {"status": stage[:40]},
                    details={"status": OrderStatus.values},
                )
            orders = orders.filter(status=stage)
        if number := request.query_params.get("number"):
            # Only something shaped like a number reaches the database (a NUL would
            # fail in PostgreSQL); anything else matches no order.
            if re.fullmatch(self.lookup_value_regex, number):
                orders = orders.filter(number=number)
            else:
                orders = orders.none()
        if (since := _datetime_param(request, "created_since")) is not None:
            orders = orders.filter(created_at__gte=since)
        if (since := _datetime_param(request, "updated_since")) is not None:
            orders = orders.filter(updated_at__gte=since)
        page = self.paginate_queryset(orders)
        return self.get_paginated_response(OrderSummaryOut(page, many=True).data)

    @extend_schema(
        operation_id="orders_create",
        request=OrderIn,
        parameters=[IDEMPOTENCY_HEADER],
        responses={
            201: OrderCreatedOut,
            **error_responses(400, 401, 409, 413, 415, 422, 429),
        },
    )
    def create(self, request):
        key = request.headers.get("Idempotency-Key", "").strip()
        if not key or len(key) > MAX_KEY_LENGTH or "\x00" in key:
            raise ApiError(
                code="idempotency_key_required",
                message=_("Send an Idempotency-Key header (1 to 255 characters) with each order."),
            )
        incoming = OrderIn(data=request.data)
        incoming.is_valid(raise_exception=True)
        result = order_intake(
            partner=request.user.partner,
            key=key,
            fingerprint=request_fingerprint(request.data),
            data=incoming.validated_data,
        )
        headers = {"Idempotent-Replayed": "true"} if result.replayed else {}
        return Response(result.body, status=result.status_code, headers=headers)

    @extend_schema(
        operation_id="orders_retrieve",
        responses={200: OrderOut, **error_responses(401, 404, 429)},
    )
    def retrieve(self, request, number=None):
        return Response(OrderOut(self._detail(number)).data)

    @extend_schema(
        operation_id="orders_cancel",
        request=CancelIn,
        responses={200: OrderOut, **error_responses(400, 401, 404, 409, 415, 429)},
    )
    @action(detail=True, methods=["post"])
    def cancel(self, request, number=None):
        order = self._detail(number)
        incoming = CancelIn(data=request.data)
        incoming.is_valid(raise_exception=True)
        partner = request.user.partner
        try:
            order_cancel(
                order,
                actor_label=f"partner:{partner.code}",
                reason=incoming.validated_data["reason"],
                via=Via.API,
            )
        except TransitionRefused as exc:
            raise ApiError(
                code="not_cancellable",
                message=_("Order %(number)s can no longer be cancelled (it is %(status)s).")
                % {"number": order.number, "status": order.status},
                status_code=status.HTTP_409_CONFLICT,
                details={"status": order.status, "reasons": exc.reasons},
            ) from exc
        return Response(OrderOut(self._detail(number)).data)

    @extend_schema(
        operation_id="orders_payment",
        request=PaymentIn,
        responses={201: PaymentOut, **error_responses(400, 401, 404, 415, 422, 429)},
    )
    @action(detail=True, methods=["post"])
    def payment(self, request, number=None):
        order = self._detail(number)
        incoming = PaymentIn(data=request.data)
        incoming.is_valid(raise_exception=True)
        data = incoming.validated_data
        if order.amount_paid + data["amount"] > MAX_AMOUNT:
            # The running total would overflow its column (a DataError, a 500, on
            # PostgreSQL). Belongs in order_record_payment under its lock; here until then.
            raise InvalidOrderInput(_("The amount paid is out of range."), code="invalid_amount")
        payment = order_record_payment(
            order,
            amount=data["amount"],
            reference=data["reference"],
            paid_at=data["paid_at"],
            actor_label=f"partner:{request.user.partner.code}",
        )
        return Response(PaymentOut(payment).data, status=status.HTTP_201_CREATED)
