"""One JSON shape for every API error: {"code": ..., "message": ..., "details": ...}.

Partners' code branches on `code` (stable slugs); `message` is for people; `details`
holds field errors or the reasons of a refusal. Nothing reaches a partner as an HTML
page or a 500 with a traceback.
"""

from __future__ import annotations

import logging

from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.http import Http404, JsonResponse
from django.utils.translation import gettext as _
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from orders.services.errors import ActionForbidden, ConcurrentChange, OrderActionError

logger = logging.getLogger(__name__)


class ApiError(exceptions.APIException):
    """An API error with an explicit code, message, status and details."""

    def __init__(self, *, code: str, message: str, status_code: int = 400, details=None):
        super().__init__(detail=message, code=code)
        self.status_code = status_code
        self.error_code = code
        self.message = str(message)
        self.details = details


_DRF_CODES = {
    exceptions.ParseError: "malformed_request",
    exceptions.AuthenticationFailed: "authentication_failed",
    exceptions.NotAuthenticated: "not_authenticated",
    exceptions.PermissionDenied: "permission_denied",
    exceptions.NotFound: "not_found",
    exceptions.MethodNotAllowed: "method_not_allowed",
    exceptions.NotAcceptable: "not_acceptable",
    exceptions.UnsupportedMediaType: "unsupported_media_type",
    exceptions.Throttled: "throttled",
}


def error_body(code: str, message: str, details=None) -> dict:
    return {"code": code, "message": str(message), "details": details if details else {}}


def _order_error(exc: OrderActionError) -> Response:
    if isinstance(exc, ActionForbidden):
        status_code = status.HTTP_403_FORBIDDEN
    elif isinstance(exc, ConcurrentChange):
        status_code = status.HTTP_409_CONFLICT
    else:
        status_code = status.HTTP_422_UNPROCESSABLE_ENTITY
    details = {"reasons": exc.reasons} if exc.reasons else {}
    return Response(error_body(exc.code, exc.message, details), status=status_code)


def api_exception_handler(exc, context):
    """DRF's EXCEPTION_HANDLER: map every error to the one shape."""
    if isinstance(exc, OrderActionError):
        return _order_error(exc)
    if isinstance(exc, RequestDataTooBig):
        return Response(
            error_body("request_too_large", _("The request body is too large.")),
            status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
        )
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    response = drf_exception_handler(exc, context)
    if response is None:
        return None  # a real bug: Django's 500 handler (JSON under /api/) takes it
    if isinstance(exc, ApiError):
        response.data = error_body(exc.error_code, exc.message, exc.details)
        return response
    if isinstance(exc, exceptions.ValidationError):
        response.status_code = status.HTTP_400_BAD_REQUEST
        response.data = error_body(
            "validation_error", _("The request has invalid fields."), exc.detail
        )
        return response
    code = next((c for kind, c in _DRF_CODES.items() if isinstance(exc, kind)), "error")
    detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
    details = {}
    if isinstance(exc, exceptions.Throttled) and exc.wait is not None:
        details = {"retry_after_seconds": int(exc.wait)}
    response.data = error_body(code, detail, details)
    return response


def api_not_found(request, exception=None):
    return JsonResponse(error_body("not_found", _("Not found.")), status=404)


def api_server_error(request):
    return JsonResponse(
        error_body("server_error", _("Something went wrong on our side; it has been logged.")),
        status=500,
    )
