from django.urls import include, path
from rest_framework.routers import SimpleRouter

from orders.api.staff import ClaimNextView, TodoView, TransitionView
from orders.api.views import PartnerOrderViewSet

router = SimpleRouter()
router.register("orders", PartnerOrderViewSet, basename="api-orders")

urlpatterns = [
    path("", include(router.urls)),
    path("staff/todo/", TodoView.as_view(), name="api-staff-todo"),
    path("staff/queues/<str:stage>/claim-next/", ClaimNextView.as_view(), name="api-claim-next"),
    path(
        "staff/orders/<str:number>/transitions/<str:name>/",
        TransitionView.as_view(),
        name="api-staff-transition",
    ),
]
