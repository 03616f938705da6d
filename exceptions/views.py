"""Raise an exception case from the order page (staff, `/exceptions/new/?order=<id>`).

A plain staff view rendered in the admin's frame: the pool's admin belongs to the
pool; this form only calls `case_open` (source "staff") and returns to the order.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.views.decorators import staff_member_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from exceptions.models import CaseSource, ExceptionType
from exceptions.services.cases import case_open
from orders.models import Order
from orders.services.errors import OrderActionError


class TypeChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj):
        return f"{obj.tag} {obj.name}"


class CaseNewForm(forms.Form):
    type = TypeChoiceField(
        label=_("Type"),
        queryset=ExceptionType.objects.filter(is_active=True).order_by("sort_order", "code"),
        empty_label=None,
    )
    description = forms.CharField(
        label=_("Description"),
        help_text=_("What was asked, e.g. the new address. The team reads this first."),
        widget=forms.Textarea(attrs={"rows": 4, "cols": 60}),
        max_length=2000,
    )


def _order(request) -> Order:
    raw = request.GET.get("order", "")
    if not raw.isascii() or not raw.isdigit() or not 0 < int(raw) < 2**31:
        raise Http404
    order = Order.objects.filter(pk=int(raw)).first()
    if order is None:
        raise Http404
    return order


@staff_member_required
def case_new(request):
    if not request.user.has_perm("exceptions.add_exceptioncase"):
        raise PermissionDenied
    order = _order(request)
    order_url = reverse("admin:orders_order_change", args=[order.pk])
    form = CaseNewForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            case, created = case_open(
                order,
                type=form.cleaned_data["type"],
                source=CaseSource.STAFF,
                description=form.cleaned_data["description"],
                by=request.user,
            )
        except OrderActionError as exc:
            form.add_error(None, str(exc))
        else:
            names = {"tag": case.type.tag, "id": case.pk, "number": order.number}
            if created:
                messages.success(
                    request, gettext("Case %(tag)s #%(id)s opened on order %(number)s.") % names
                )
            else:
                messages.warning(
                    request,
                    gettext("A %(tag)s case is already open on order %(number)s: #%(id)s.") % names,
                )
            return HttpResponseRedirect(order_url)
    context = {
        **admin.site.each_context(request),
        "title": gettext("Raise an exception case"),
        "subtitle": order.number,
        "order": order,
        "order_url": order_url,
        "form": form,
    }
    return TemplateResponse(request, "exceptions/case_new.html", context)
