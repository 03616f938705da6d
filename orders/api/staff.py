"""Staff endpoints for phones (`/api/v1/staff/`): my to-do, claim next, perform a step.

Session or token authentication; the same services as the admin, so the same
permissions, guards, timeline and audit apply.
"""

from __future__ import annotations

import re

from django.http import Http404
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.authentication import SessionAuthentication, TokenAuthentication
from rest_framework.response import Response
from rest_framework.views import APIView

from backoffice.claims import ClaimRefused
from orders.api.errors import ApiError
from orders.api.parsers import JSONParser
from orders.api.schema import error_responses
from orders.api.serializers import OrderOut, StrictSerializer
from orders.models import Order
from orders.selectors import todo_for
from orders.services import TRANSITION_NAMES, order_transition
from orders.services.queues import order_claim_next
from orders.states import MAIN_LINE


class StaffView(APIView):
    """Staff only: partners' API keys are not accepted here. Token first, so that a
    request without credentials gets a 401 with `WWW-Authenticate: Token`."""

    authentication_classes = [TokenAuthentication, SessionAuthentication]

    parser_classes = [JSONParser]

    def check_permissions(self, request):
        super().check_permissions(request)
        if not getattr(request.user, "is_staff", False):
            self.permission_denied(request, message=_("Staff only."))


class TodoView(StaffView):
    @extend_schema(
        operation_id="staff_todo",
        responses={200: OpenApiResponse(description="My to-do"), **error_responses(401, 403)},
    )
    def get(self, request):
        return Response(todo_for(request.user))


class ClaimNextView(StaffView):
    @extend_schema(
        operation_id="staff_claim_next",
        request=None,
        parameters=[
            OpenApiParameter("stage", str, OpenApiParameter.PATH, enum=[str(s) for s in MAIN_LINE])
        ],
        responses={
            200: OrderOut,
            204: OpenApiResponse(description="Nothing waiting"),
            **error_responses(401, 403, 404, 409),
        },
    )
    def post(self, request, stage: str):
        if stage not in MAIN_LINE:
            raise ApiError(code="not_found", message=_("No such stage."), status_code=404)
        try:
            order = order_claim_next(stage=stage, user=request.user)
        except ClaimRefused as exc:
            raise ApiError(code=exc.code, message=exc.message, status_code=409) from exc
        if order is None:
            return Response(status=status.HTTP_204_NO_CONTENT)
        return Response(OrderOut(_staff_order(order.number)).data)


class TransitionIn(StrictSerializer):
    reason = serializers.CharField(max_length=300, required=False, allow_blank=True)
    carrier = serializers.CharField(max_length=60, required=False)
    tracking_number = serializers.CharField(max_length=64, required=False)
    urgent = serializers.BooleanField(
        required=False,
        default=False,
        help_text="dispatch: upload the QC photo afterwards (needs the urgent-dispatch bypass)",
    )


def _staff_order(number: str) -> Order:
    if not re.fullmatch(r"[A-Za-z0-9-]{1,32}", number):  # e.g. a NUL: PostgreSQL refuses it
        raise Http404
    return get_object_or_404(
        Order.objects.select_related("customer").prefetch_related("lines", "payments", "visits"),
        number=number,
    )


class TransitionView(StaffView):
    @extend_schema(
        operation_id="staff_transition",
        request=TransitionIn,
        parameters=[
            OpenApiParameter("name", str, OpenApiParameter.PATH, enum=list(TRANSITION_NAMES))
        ],
        responses={200: OrderOut, **error_responses(400, 401, 403, 404, 409, 422)},
        description="Perform one step (e.g. approve_sales, hold, cancel, dispatch) "
        "through the same service as the admin button.",
    )
    def post(self, request, number: str, name: str):
        if name not in TRANSITION_NAMES:
            raise ApiError(code="unknown_step", message=_("Unknown step."), status_code=404)
        order = _staff_order(number)
        incoming = TransitionIn(data=request.data)
        incoming.is_valid(raise_exception=True)
        params = dict(incoming.validated_data)
        if name in ("approve_sales", "approve_finance", "finish_picking", "accept", "release"):
            params = {k: v for k, v in params.items() if k == "reason"}
        elif name in ("hold", "cancel"):
            params = {"reason": params.get("reason", "")}
        elif name == "dispatch":
            params = {
                "carrier": params.get("carrier", ""),
                "tracking_number": params.get("tracking_number", ""),
                "urgent": params.get("urgent", False),
            }
        elif name == "reserve_stock":
            params = {}
        order_transition(order, name=name, by=request.user, **params)
        return Response(OrderOut(_staff_order(number)).data)
