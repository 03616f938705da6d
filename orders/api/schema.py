"""OpenAPI documentation helpers: every error response has the one error shape."""

from __future__ import annotations

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers


class ErrorOut(serializers.Serializer):
    code = serializers.CharField(help_text="A stable machine-readable slug.")
    message = serializers.CharField(help_text="A human-readable explanation.")
    details = serializers.JSONField(help_text="Field errors or reasons; {} when none.")


ERRORS = {
    400: "Malformed JSON, invalid or unknown fields, missing Idempotency-Key.",
    401: "No API key, or an unknown, revoked or expired one.",
    403: "Authenticated but not allowed.",
    404: "No such order among yours.",
    405: "Method not allowed.",
    406: "The Accept header allows no JSON answer.",
    409: "Conflict: duplicate external_ref, or the order's state forbids it.",
    413: "The request body is too large.",
    415: "The body is not JSON.",
    422: "Understood but refused: unknown SKU or coupon, reused Idempotency-Key, a rule.",
    429: "Too many requests for this key: see Retry-After.",
}


def error_responses(*codes: int) -> dict[int, OpenApiResponse]:
    # Any operation answers 406 to an Accept header that excludes JSON.
    return {
        code: OpenApiResponse(ErrorOut, description=ERRORS[code]) for code in sorted({*codes, 406})
    }


class PartnerKeyScheme(OpenApiAuthenticationExtension):
    """Documents the partner API key (X-Api-Key) in the OpenAPI schema."""

    target_class = "orders.api.auth.PartnerKeyAuthentication"
    name = "ApiKeyAuth"

    def get_security_definition(self, auto_schema):
        return {"type": "apiKey", "in": "header", "name": "X-Api-Key"}
