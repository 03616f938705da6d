"""Exception cases in the API.

Partners (API key, like every `/api/v1/orders/` endpoint; same throttle, error shape
and BOLA rule: another partner's order is a 404):

- `POST /api/v1/orders/{number}/exceptions/` raises an address change, an invoice
  reissue or a gift addition on one of the partner's orders. 201 with the new case;
  200 with the case already open for that order and type (idempotent: retries
  never open a second one); 409 `order_closed` once the order is dispatched or
  cancelled; 400 `invalid_exception_type` for any other type.
- `GET /api/v1/orders/{number}/` carries the order's open cases (`exceptions`),
  registered as a detail section (orders.api.extensions) in ExceptionsConfig.ready.

Staff phones (token or session, like `orders.api.staff`; the same services as the
admin pool, so the same permissions and audit):

- `GET /api/v1/staff/exceptions/`: my teams' open cases, blocking first, then the
  earliest due (all teams for people who may assign cases), a bounded page;
- `POST /api/v1/staff/exceptions/claim-next/`: 200 with the case handed to me, 204
  when nothing waits;
- `POST /api/v1/staff/exceptions/{id}/resolve/` with a note.
"""

from __future__ import annotations

import re

from django.http import Http404
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    PolymorphicProxySerializer,
    extend_schema,
    extend_schema_field,
)
from rest_framework import serializers, status
from rest_framework.exceptions import ErrorDetail
from rest_framework.response import Response
from rest_framework.views import APIView

from backoffice.claims import ClaimRefused
from exceptions.models import CaseSource, CaseStatus, ExceptionCase
from exceptions.services.cases import case_claim_next, case_open, case_resolve
from orders.api.auth import IsPartner, PartnerKeyAuthentication, PartnerKeyThrottle
from orders.api.errors import ApiError
from orders.api.parsers import JSONParser
from orders.api.schema import error_responses
from orders.api.serializers import AddressIn, StrictSerializer
from orders.api.staff import StaffView
from orders.models import Order, Product
from orders.services.errors import (
    ActionForbidden,
    InvalidOrderInput,
    OrderActionError,
)

NUMBER = r"[A-Za-z0-9-]{1,32}"
MAX_ID = 2**31 - 1
MAX_PAGE = 100
MAX_OFFSET = 10_000
MAX_GIFT_QUANTITY = 100

# What a partner may raise, and the object of the body that says what is asked.
PARTNER_TYPES = {
    "address_change": "address",
    "invoice_reissue": "invoice",
    "gift_addition": "gift",
}
OPEN_STATUSES = [CaseStatus.OPEN, CaseStatus.CLAIMED]


def _inline_enum(values) -> dict:
    """An enum kept inline (nested in allOf, so drf-spectacular does not extract it): a
    second "status" or "type" enum component would rename published ones."""
    return {"allOf": [{"type": "string", "enum": [str(v) for v in values]}]}


# --- Shapes: partner requests ----------------------------------------------------------


class InvoiceChangeIn(StrictSerializer):
    title = serializers.CharField(max_length=120)
    tax_id = serializers.RegexField(
        r"^[0-9A-Za-z]{0,40}$",
        max_length=40,
        required=False,
        allow_blank=True,
        default="",
        help_text="The buyer's taxpayer number (letters and digits); blank for a person.",
    )


class GiftIn(StrictSerializer):
    sku = serializers.RegexField(r"^[^\s].{0,63}$", max_length=64)
    quantity = serializers.IntegerField(min_value=1, max_value=MAX_GIFT_QUANTITY)


def _type_field(code: str) -> serializers.CharField:
    """The discriminator of one request shape: documented as the one code it takes
    (the view has already chosen the shape by it)."""
    name = "".join(part.title() for part in code.split("_")) + "TypeField"
    field_class = extend_schema_field(_inline_enum([code]))(
        type(name, (serializers.CharField,), {})
    )
    return field_class(max_length=40)


class _CaseIn(StrictSerializer):
    type = serializers.CharField(max_length=40)
    description = serializers.CharField(
        max_length=2000,
        required=False,
        allow_blank=True,
        default="",
        help_text="What the customer asked, in words (shown to the team).",
    )


class AddressChangeIn(_CaseIn):
    type = _type_field("address_change")
    address = AddressIn(help_text="The new shipping address.")


class InvoiceReissueIn(_CaseIn):
    type = _type_field("invoice_reissue")
    invoice = InvoiceChangeIn(help_text="The invoice to issue instead.")


class GiftAdditionIn(_CaseIn):
    type = _type_field("gift_addition")
    gift = GiftIn(help_text="The gift to add to the parcel (an active SKU).")


REQUEST_SERIALIZERS = {
    "address_change": AddressChangeIn,
    "invoice_reissue": InvoiceReissueIn,
    "gift_addition": GiftAdditionIn,
}
CASE_REQUEST = PolymorphicProxySerializer(
    component_name="ExceptionCaseIn",
    serializers=REQUEST_SERIALIZERS,
    resource_type_field_name="type",
)


# --- Shapes: answers -------------------------------------------------------------------


@extend_schema_field(_inline_enum(CaseStatus.values))
class CaseStatusField(serializers.CharField):
    pass


class CaseOut(serializers.Serializer):
    """A case as the partner who raised it sees it."""

    id = serializers.IntegerField()
    type = serializers.CharField(source="type.code", help_text="The type's code.")
    tag = serializers.CharField(
        source="type.tag", help_text="The type's tag in the answer's language, e.g. 【改址】."
    )
    status = CaseStatusField(read_only=True)
    blocking = serializers.BooleanField(help_text="The case holds the order until resolved.")
    sla_due_at = serializers.DateTimeField()
    opened_at = serializers.DateTimeField()
    created = serializers.SerializerMethodField(
        help_text="true: opened by this request; false: the case already open for the "
        "order and type."
    )

    def get_created(self, case) -> bool:
        return bool(self.context.get("created"))


@extend_schema_field(_inline_enum(CaseSource.values))
class CaseSourceField(serializers.CharField):
    pass


@extend_schema_field(_inline_enum(OPEN_STATUSES))
class OpenStatusField(serializers.CharField):
    pass


class OpenCaseOut(serializers.Serializer):
    """An open case in the order detail (`exceptions`)."""

    id = serializers.IntegerField()
    type = serializers.CharField(help_text="The type's code.")
    tag_zh = serializers.CharField()
    tag_en = serializers.CharField()
    status = OpenStatusField(read_only=True)
    blocking = serializers.BooleanField(help_text="The case holds the order until resolved.")
    sla_due_at = serializers.DateTimeField()


def order_open_cases(order) -> list[dict]:
    """The order detail's `exceptions` section: its open cases, blocking first (one
    query on the partial index of open cases by order)."""
    rows = (
        ExceptionCase.objects.filter(order_id=order.pk, status__in=OPEN_STATUSES)
        .order_by("-blocking", "sla_due_at", "id")
        .values(
            "id",
            "type__code",
            "type__tag_zh",
            "type__tag_en",
            "status",
            "blocking",
            "sla_due_at",
        )
    )
    cases = [
        {
            "id": row["id"],
            "type": row["type__code"],
            "tag_zh": row["type__tag_zh"],
            "tag_en": row["type__tag_en"],
            "status": row["status"],
            "blocking": row["blocking"],
            "sla_due_at": row["sla_due_at"],
        }
        for row in rows
    ]
    return OpenCaseOut(cases, many=True).data


class StaffCaseOut(serializers.ModelSerializer):
    """A case as a team member's phone shows it."""

    order_number = serializers.CharField(source="order.number")
    order_status = serializers.CharField(source="order.status")
    type = serializers.CharField(source="type.code")
    tag = serializers.CharField(source="type.tag")
    status = CaseStatusField(read_only=True)
    team = serializers.CharField(source="team.name")
    source = CaseSourceField(read_only=True)
    claimed_by = serializers.CharField(
        source="claimed_by.get_username", allow_null=True, default=None
    )
    overdue = serializers.SerializerMethodField()
    checklist = serializers.SerializerMethodField()

    class Meta:
        model = ExceptionCase
        fields = (
            "id",
            "order_number",
            "order_status",
            "type",
            "tag",
            "status",
            "blocking",
            "team",
            "source",
            "description",
            "payload",
            "opened_at",
            "sla_due_at",
            "overdue",
            "claimed_by",
            "claimed_at",
            "checklist",
        )
        read_only_fields = fields

    def get_overdue(self, case) -> bool:
        return case.is_overdue()

    def get_checklist(self, case) -> list[str]:
        return case.type.checklist_items()


class StaffCasePageOut(serializers.Serializer):
    results = StaffCaseOut(many=True)
    next_offset = serializers.IntegerField(
        allow_null=True, help_text="Pass as `offset` for the next page; null at the end."
    )


class StaffCaseListQuery(serializers.Serializer):
    limit = serializers.IntegerField(min_value=1, max_value=MAX_PAGE, default=50, required=False)
    offset = serializers.IntegerField(min_value=0, max_value=MAX_OFFSET, default=0, required=False)


class ResolveIn(StrictSerializer):
    note = serializers.CharField(max_length=4000, help_text="What was done (required).")


# --- Errors ----------------------------------------------------------------------------


def _refusal(exc: OrderActionError) -> ApiError:
    """Refusals of the case services: a state conflict is a 409 (`order_closed`, the
    case already closed), bad input a 400, no permission a 403."""
    details = {"reasons": exc.reasons} if exc.reasons else None
    if isinstance(exc, ActionForbidden):
        status_code = status.HTTP_403_FORBIDDEN
    elif isinstance(exc, InvalidOrderInput):
        status_code = status.HTTP_400_BAD_REQUEST
    else:  # TransitionRefused, ConcurrentChange
        status_code = status.HTTP_409_CONFLICT
    return ApiError(code=exc.code, message=exc.message, status_code=status_code, details=details)


# --- Partner: raise a case on one of my orders -----------------------------------------


class PartnerOrderExceptionView(APIView):
    authentication_classes = [PartnerKeyAuthentication]
    permission_classes = [IsPartner]
    throttle_classes = [PartnerKeyThrottle]
    parser_classes = [JSONParser]

    @extend_schema(
        operation_id="orders_exceptions_create",
        request=CASE_REQUEST,
        parameters=[OpenApiParameter("number", str, OpenApiParameter.PATH, pattern=f"^{NUMBER}$")],
        responses={
            201: OpenApiResponse(CaseOut, description="The case was opened."),
            200: OpenApiResponse(
                CaseOut, description="A case of this type is already open: that one."
            ),
            **error_responses(400, 401, 404, 409, 413, 415, 422, 429),
        },
        description=(
            "Ask for an address change, an invoice reissue or a gift addition on one "
            "of your orders. The body names the `type` and carries its object "
            "(`address`, `invoice` or `gift`). Idempotent per order and type: while a "
            "case of the type is open, the same request answers 200 with it. "
            "400 `invalid_exception_type`: partners may raise only these three types; "
            "409 `order_closed`: the order is dispatched or cancelled; 422 "
            "`unknown_sku`: the gift's SKU is not an active product."
        ),
    )
    def post(self, request, number: str):
        if not re.fullmatch(NUMBER, number):  # e.g. a NUL: PostgreSQL would refuse it
            raise Http404
        partner = request.user.partner
        order = get_object_or_404(Order.objects.filter(partner=partner), number=number)
        data = _validated(request.data)
        field = PARTNER_TYPES[data["type"]]
        details = dict(data[field])
        if field == "gift":
            _require_active_sku(details["sku"])
        try:
            case, created = case_open(
                order,
                type=data["type"],
                source=CaseSource.PARTNER_API,
                description=data["description"],
                payload={field: details, "partner": partner.code},
                actor_label=f"partner:{partner.code}",
            )
        except OrderActionError as exc:
            if isinstance(exc, InvalidOrderInput):  # e.g. the type is switched off
                raise ApiError(code=exc.code, message=exc.message, status_code=422) from exc
            raise _refusal(exc) from exc
        body = CaseOut(case, context={"created": created}).data
        return Response(body, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


def _validated(data) -> dict:
    """The body, validated by the shape its `type` names."""
    if not isinstance(data, dict):
        _CaseIn(data=data).is_valid(raise_exception=True)  # "expected an object"
    if "type" not in data:
        raise serializers.ValidationError(
            {"type": [ErrorDetail(_("This field is required."), code="required")]}
        )
    kind = data["type"]
    if not isinstance(kind, str) or kind not in PARTNER_TYPES:
        raise ApiError(
            code="invalid_exception_type",
            message=_("Partners may raise only these exception types: %(types)s.")
            % {"types": ", ".join(PARTNER_TYPES)},
            details={"type": sorted(PARTNER_TYPES)},
        )
    incoming = REQUEST_SERIALIZERS[kind](data=data)
    incoming.is_valid(raise_exception=True)
    return incoming.validated_data


def _require_active_sku(sku: str) -> None:
    if not Product.objects.filter(sku=sku, is_active=True).exists():
        raise ApiError(
            code="unknown_sku",
            message=_("Unknown SKU “%(sku)s”.") % {"sku": sku[:64]},
            status_code=status.HTTP_422_UNPROCESSABLE_ENTITY,
            details={"gift": {"sku": [_("No active product has this SKU.")]}},
        )


# --- Staff: my teams' pool on the phone ------------------------------------------------


def _staff_cases():
    return ExceptionCase.objects.select_related("type", "order", "team", "claimed_by")


def _require_view(user) -> None:
    if not user.has_perm("exceptions.view_exceptioncase"):
        raise _refusal(ActionForbidden(gettext_lazy("You may not see the exception pool.")))


class StaffCaseListView(StaffView):
    @extend_schema(
        operation_id="staff_exceptions",
        parameters=[StaffCaseListQuery],
        responses={200: StaffCasePageOut, **error_responses(400, 401, 403)},
        description="The open cases of my teams (of every team for people who may "
        "assign cases): blocking first, then the earliest due.",
    )
    def get(self, request):
        _require_view(request.user)
        query = StaffCaseListQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        limit, offset = query.validated_data["limit"], query.validated_data["offset"]
        cases = _staff_cases().filter(status__in=OPEN_STATUSES)
        if not request.user.has_perm("exceptions.assign_exceptioncase"):
            cases = cases.filter(team__in=request.user.groups.values("pk"))
        page = list(cases.order_by("-blocking", "sla_due_at", "id")[offset : offset + limit + 1])
        more = len(page) > limit
        return Response(
            {
                "results": StaffCaseOut(page[:limit], many=True).data,
                "next_offset": offset + limit if more and offset + limit <= MAX_OFFSET else None,
            }
        )


class StaffCaseClaimNextView(StaffView):
    @extend_schema(
        operation_id="staff_exceptions_claim_next",
        request=None,
        responses={
            200: StaffCaseOut,
            204: OpenApiResponse(description="Nothing waits in my teams' pool."),
            **error_responses(401, 403, 409),
        },
        description="Take the next open case of my teams: blocking first, then the "
        "earliest due. Two people never get the same case.",
    )
    def post(self, request):
        if not request.user.has_perm("exceptions.work_exceptioncase"):
            raise _refusal(ActionForbidden(gettext_lazy("You may not work exception cases.")))
        try:
            case = case_claim_next(user=request.user)
        except ClaimRefused as exc:
            raise ApiError(code=exc.code, message=exc.message, status_code=409) from exc
        except OrderActionError as exc:
            raise _refusal(exc) from exc
        if case is None:
            return Response(status=status.HTTP_204_NO_CONTENT)
        return Response(StaffCaseOut(_staff_cases().get(pk=case.pk)).data)


class StaffCaseResolveView(StaffView):
    @extend_schema(
        operation_id="staff_exceptions_resolve",
        request=ResolveIn,
        responses={200: StaffCaseOut, **error_responses(400, 401, 403, 404, 409, 415)},
        description="Resolve a case with a note. The last blocking case of an order "
        "to close releases the order to the stage it was held in.",
    )
    def post(self, request, pk: int):
        _require_view(request.user)
        case = _staff_cases().filter(pk=pk).first() if 0 < pk <= MAX_ID else None
        if case is None:
            raise Http404
        incoming = ResolveIn(data=request.data)
        incoming.is_valid(raise_exception=True)
        try:
            case_resolve(case, by=request.user, note=incoming.validated_data["note"])
        except OrderActionError as exc:
            raise _refusal(exc) from exc
        return Response(StaffCaseOut(_staff_cases().get(pk=pk)).data)
