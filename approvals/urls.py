"""Staff API routes of the approvals app, included under /api/v1/staff/."""

from django.urls import path

from approvals.api import (
    OrderPriceChangeView,
    PriceChangeApproveView,
    PriceChangeListView,
    PriceChangeRejectView,
)

urlpatterns = [
    path("price-changes/", PriceChangeListView.as_view(), name="api-staff-price-changes"),
    path(
        "price-changes/<int:pk>/approve/",
        PriceChangeApproveView.as_view(),
        name="api-staff-price-change-approve",
    ),
    path(
        "price-changes/<int:pk>/reject/",
        PriceChangeRejectView.as_view(),
        name="api-staff-price-change-reject",
    ),
    path(
        "orders/<str:number>/price-changes/",
        OrderPriceChangeView.as_view(),
        name="api-staff-order-price-changes",
    ),
]
