"""Staff phone endpoints for price changes (`/api/v1/staff/...`).

The same authentication, permissions and error shape as `orders.api.staff`, and the
same services as the admin. Refusals: 400 bad input, 403 no permission, 404 unknown
order or request, 409 the order's state or the request's (already decided, one
pending per line), 422 an authorization code refused, 429 code entry locked
(`code_locked`, with Retry-After).
"""

from __future__ import annotations

import re
from decimal import Decimal

from django.http import Http404
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.response import Response

from approvals.models import PriceChangeRequest
from approvals.services.codes import CodeRefused
from approvals.services.prices import (
    price_change_apply_with_code,
    price_change_approve,
    price_change_reject,
    price_change_request,
)
from orders.api.errors import ApiError
from orders.api.schema import error_responses
from orders.api.serializers import StrictSerializer
from orders.api.staff import StaffView
from orders.models import Order
from orders.services.errors import (
    ActionForbidden,
    ConcurrentChange,
    InvalidOrderInput,
    OrderActionError,
)
from orders.services.intake import MAX_AMOUNT

Status = PriceChangeRequest.Status
MAX_PAGE = 100
MAX_ID = 2**31 - 1
# Refusals that are about the state of things, not about the request's content.
CONFLICTS = {"price_change_pending", "not_pending", "price_change_too_late"}


# --- Shapes ----------------------------------------------------------------------------


@extend_schema_field({"allOf": [{"type": "string", "enum": list(Status.values)}]})
class StatusField(serializers.CharField):
    """Kept inline in the schema (nested, so drf-spectacular does not extract it): a
    second "status" enum component would rename the order's published `StatusEnum`."""


class PriceChangeOut(serializers.ModelSerializer):
    status = StatusField(read_only=True)
    order_number = serializers.CharField(source="order.number", read_only=True)
    sku = serializers.CharField(source="line.sku", read_only=True)
    requested_by = serializers.CharField(
        source="requested_by.get_username", read_only=True, allow_null=True, default=None
    )
    decided_by = serializers.CharField(
        source="decided_by.get_username", read_only=True, allow_null=True, default=None
    )

    class Meta:
        model = PriceChangeRequest
        fields = (
            "id",
            "order_number",
            "line_id",
            "sku",
            "list_price",
            "old_unit_price",
            "new_unit_price",
            "deviation_pct",
            "reason",
            "status",
            "requested_at",
            "requested_by",
            "decided_at",
            "decided_by",
            "decision_note",
        )
        read_only_fields = fields


class PriceChangePageOut(serializers.Serializer):
    results = PriceChangeOut(many=True)
    next_before = serializers.IntegerField(
        allow_null=True, help_text="Pass as `before` for the next (older) page; null at the end."
    )


class PriceChangeListQuery(serializers.Serializer):
    status = serializers.ChoiceField(choices=Status.choices, required=False)
    limit = serializers.IntegerField(min_value=1, max_value=MAX_PAGE, default=50, required=False)
    before = serializers.IntegerField(min_value=1, max_value=MAX_ID, required=False)


class DecisionIn(StrictSerializer):
    note = serializers.CharField(max_length=300, required=False, allow_blank=True, default="")


class RejectIn(StrictSerializer):
    note = serializers.CharField(max_length=300)


class PriceChangeIn(StrictSerializer):
    line_id = serializers.IntegerField(min_value=1, max_value=MAX_ID, required=False)
    line_sku = serializers.CharField(max_length=64, required=False)
    new_unit_price = serializers.DecimalField(
        max_digits=12, decimal_places=2, min_value=Decimal("0"), max_value=MAX_AMOUNT
    )
    reason = serializers.CharField(max_length=300)
    authorization_code = serializers.CharField(
        max_length=40,
        required=False,
        allow_blank=True,
        default="",
        help_text="A manager's code: applies the price at once (within the code's cap, "
        "while the code bypass is on). Without it the change waits for approval.",
    )

    def validate(self, data):
        if ("line_id" in data) == ("line_sku" in data):
            raise serializers.ValidationError(
                {"line_id": [_("Give exactly one of line_id and line_sku.")]}
            )
        return data


# --- Errors ----------------------------------------------------------------------------


def _refusal(exc: OrderActionError) -> ApiError:
    details = {"reasons": exc.reasons} if exc.reasons else None
    if isinstance(exc, CodeRefused) and exc.code == "code_locked":
        error = ApiError(code=exc.code, message=exc.message, status_code=429, details=details)
        error.wait = exc.retry_after  # DRF sends it as Retry-After
        return error
    if isinstance(exc, CodeRefused):
        status_code = 422
    elif isinstance(exc, ActionForbidden):
        status_code = 403
    elif isinstance(exc, ConcurrentChange) or exc.code in CONFLICTS:
        status_code = 409
    elif isinstance(exc, InvalidOrderInput):
        status_code = 400
    else:
        status_code = 409
    return ApiError(code=exc.code, message=exc.message, status_code=status_code, details=details)


def _call(service, *args, **kwargs):
    try:
        return service(*args, **kwargs)
    except OrderActionError as exc:
        raise _refusal(exc) from exc


def _price_changes():
    return PriceChangeRequest.objects.select_related("order", "line", "requested_by", "decided_by")


def _price_change(pk: int) -> PriceChangeRequest:
    change = _price_changes().filter(pk=pk).first() if 0 < pk <= MAX_ID else None
    if change is None:
        raise Http404
    return change


def _client_ip(request) -> str | None:
    return request.META.get("REMOTE_ADDR") or None


# --- Views -----------------------------------------------------------------------------


class PriceChangeListView(StaffView):
    @extend_schema(
        operation_id="staff_price_changes",
        parameters=[PriceChangeListQuery],
        responses={200: PriceChangePageOut, **error_responses(400, 401, 403)},
        description="Price changes, newest first (e.g. `?status=pending` to decide).",
    )
    def get(self, request):
        if not request.user.has_perm("approvals.view_pricechangerequest"):
            raise _refusal(ActionForbidden())
        query = PriceChangeListQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        params = query.validated_data
        changes = _price_changes().order_by("-id")
        if "status" in params:
            changes = changes.filter(status=params["status"])
        if "before" in params:
            changes = changes.filter(pk__lt=params["before"])
        page = list(changes[: params["limit"] + 1])
        more = len(page) > params["limit"]
        page = page[: params["limit"]]
        return Response(
            {
                "results": PriceChangeOut(page, many=True).data,
                "next_before": page[-1].pk if more else None,
            }
        )


class PriceChangeApproveView(StaffView):
    @extend_schema(
        operation_id="staff_price_change_approve",
        request=DecisionIn,
        responses={200: PriceChangeOut, **error_responses(400, 401, 403, 404, 409)},
        description="Approve a pending price change: the line gets the new price at once.",
    )
    def post(self, request, pk: int):
        change = _price_change(pk)
        incoming = DecisionIn(data=request.data)
        incoming.is_valid(raise_exception=True)
        _call(price_change_approve, change, by=request.user, note=incoming.validated_data["note"])
        return Response(PriceChangeOut(_price_change(pk)).data)


class PriceChangeRejectView(StaffView):
    @extend_schema(
        operation_id="staff_price_change_reject",
        request=RejectIn,
        responses={200: PriceChangeOut, **error_responses(400, 401, 403, 404, 409)},
        description="Reject a pending price change (a note is required).",
    )
    def post(self, request, pk: int):
        change = _price_change(pk)
        incoming = RejectIn(data=request.data)
        incoming.is_valid(raise_exception=True)
        _call(price_change_reject, change, by=request.user, note=incoming.validated_data["note"])
        return Response(PriceChangeOut(_price_change(pk)).data)


class OrderPriceChangeView(StaffView):
    @extend_schema(
        operation_id="staff_price_change_create",
        request=PriceChangeIn,
        parameters=[OpenApiParameter("number", str, OpenApiParameter.PATH)],
        responses={
            201: PriceChangeOut,
            **error_responses(400, 401, 403, 404, 409, 422, 429),
        },
        description="Ask for a new unit price on one line (pending until a manager "
        "decides), or apply it at once with an authorization code. 422: the code was "
        "refused (code_invalid, code_expired, code_exhausted, code_over_cap, "
        "code_bypass_off, ...); 429 code_locked: too many wrong codes, see Retry-After.",
    )
    def post(self, request, number: str):
        if not re.fullmatch(r"[A-Za-z0-9-]{1,32}", number):
            raise Http404
        order = Order.objects.filter(number=number).first()
        if order is None:
            raise Http404
        incoming = PriceChangeIn(data=request.data)
        incoming.is_valid(raise_exception=True)
        data = incoming.validated_data
        line = _line_of(order, data)
        common = {
            "line": line,
            "new_unit_price": data["new_unit_price"],
            "reason": data["reason"],
            "by": request.user,
        }
        if data["authorization_code"].strip():
            change = _call(
                price_change_apply_with_code,
                order,
                code=data["authorization_code"],
                ip=_client_ip(request),
                **common,
            )
        else:
            change = _call(price_change_request, order, **common)
        return Response(
            PriceChangeOut(_price_change(change.pk)).data, status=status.HTTP_201_CREATED
        )


def _line_of(order: Order, data: dict):
    if "line_id" in data:
        lines = list(order.lines.filter(pk=data["line_id"]))
        field = "line_id"
    else:
        lines = list(order.lines.filter(sku=data["line_sku"])[:2])
        field = "line_sku"
    if len(lines) == 1:
        return lines[0]
    message = (
        _("The order has several lines with this SKU: give line_id.")
        if lines
        else _("The order has no such line.")
    )
    raise ApiError(
        code="validation_error",
        message=_("The request has invalid fields."),
        status_code=400,
        details={field: [message]},
    )
