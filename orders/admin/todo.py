"""The work-queue pages of the order admin: "my to-do", claim next, claim, release, pin."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseNotAllowed, HttpResponseRedirect, JsonResponse
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext

from backoffice.claims import ClaimRefused
from orders.selectors import todo_for
from orders.services import OrderActionError
from orders.services.queues import order_claim, order_claim_next, order_claim_release, order_pin
from orders.states import MAIN_LINE


class WorkQueueAdminMixin:
    def work_queue_urls(self):
        view = self.admin_site.admin_view
        return [
            path("todo/", view(self.todo_view), name="orders_todo"),
            path("todo/claim/<str:stage>/", view(self.claim_next_view), name="orders_claim_next"),
            path("<path:object_id>/claim/", view(self.claim_view), name="orders_order_claim"),
            path(
                "<path:object_id>/release-claim/",
                view(self.release_claim_view),
                name="orders_order_release_claim",
            ),
            path("<path:object_id>/pin/", view(self.pin_view), name="orders_order_pin"),
        ]

    def todo_view(self, request):
        """My to-do (HTML; JSON with ?format=json for phones and scripts)."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        data = todo_for(request.user)
        if request.GET.get("format") == "json":
            return JsonResponse(data)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": gettext("My to-do"),
            "todo": data,
        }
        return TemplateResponse(request, "admin/orders/todo.html", context)

    def _redirect_back(self, request, default: str):
        target = request.POST.get("next") or default
        if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
            target = default
        return HttpResponseRedirect(target)

    def claim_next_view(self, request, stage):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if stage not in MAIN_LINE:
            raise PermissionDenied
        todo_url = reverse("admin:orders_todo")
        try:
            order = order_claim_next(stage=stage, user=request.user)
        except (ClaimRefused, OrderActionError) as exc:
            self.message_user(request, str(exc), messages.ERROR)
            return self._redirect_back(request, todo_url)
        if order is None:
            self.message_user(request, gettext("Nothing is waiting in this stage."), messages.INFO)
            return self._redirect_back(request, todo_url)
        self.message_user(
            request,
            gettext("Order %(number)s is yours now.") % {"number": order.number},
            messages.SUCCESS,
        )
        return HttpResponseRedirect(reverse("admin:orders_order_change", args=[order.pk]))

    def claim_view(self, request, object_id):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        order = self._order_or_404(request, object_id)
        try:
            order_claim(order, user=request.user)
            self.message_user(
                request,
                gettext("Order %(number)s is yours now.") % {"number": order.number},
                messages.SUCCESS,
            )
        except (ClaimRefused, OrderActionError) as exc:
            self.message_user(request, str(exc), messages.ERROR)
        return self._back_to(order)

    def release_claim_view(self, request, object_id):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        order = self._order_or_404(request, object_id)
        try:
            order_claim_release(order, by=request.user, reason=request.POST.get("reason", ""))
            self.message_user(request, gettext("The order is back in its queue."), messages.SUCCESS)
        except OrderActionError as exc:
            self.message_user(request, str(exc), messages.ERROR)
        return self._redirect_back(request, reverse("admin:orders_order_change", args=[order.pk]))

    def pin_view(self, request, object_id):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        order = self._order_or_404(request, object_id)
        try:
            order_pin(order, by=request.user, pinned=request.POST.get("pinned") == "1")
        except OrderActionError as exc:
            self.message_user(request, str(exc), messages.ERROR)
        return self._back_to(order)
