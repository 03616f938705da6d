"""Routes of the exceptions app, included once at the site root (backoffice/urls.py),
before orders' API: the partner and staff API endpoints under /api/v1/, and the
staff form that raises a case from the order page."""

from django.urls import path

from exceptions.api import (
    PartnerOrderExceptionView,
    StaffCaseClaimNextView,
    StaffCaseListView,
    StaffCaseResolveView,
)
from exceptions.views import case_new

urlpatterns = [
    path(
        "api/v1/orders/<str:number>/exceptions/",
        PartnerOrderExceptionView.as_view(),
        name="api-order-exceptions",
    ),
    path("api/v1/staff/exceptions/", StaffCaseListView.as_view(), name="api-staff-exceptions"),
    path(
        "api/v1/staff/exceptions/claim-next/",
        StaffCaseClaimNextView.as_view(),
        name="api-staff-exceptions-claim-next",
    ),
    path(
        "api/v1/staff/exceptions/<int:pk>/resolve/",
        StaffCaseResolveView.as_view(),
        name="api-staff-exceptions-resolve",
    ),
    path("exceptions/new/", case_new, name="exceptions-case-new"),
]
