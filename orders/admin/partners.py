"""Partner API keys in the admin: created here (shown once), revoked, never edited."""

from __future__ import annotations

from django.contrib import admin, messages
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from backoffice.admin_helpers import ReadOnlyAdmin
from orders.models.partners import IdempotencyRecord, PartnerAPIKey
from orders.services.partners import partner_key_create, partner_key_revoke


@admin.register(PartnerAPIKey)
class PartnerAPIKeyAdmin(admin.ModelAdmin):
    list_display = ("name", "partner", "prefix", "created", "last_used_at", "revoked")
    list_filter = ("revoked", "partner")
    list_select_related = ("partner",)
    search_fields = ("name", "prefix", "partner__name")
    fields = ("partner", "name", "expiry_date", "prefix", "created", "last_used_at", "revoked")
    actions = ["revoke_action"]

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return ("prefix", "created", "last_used_at", "revoked")
        return self.fields  # a key is never edited: revoke it and make a new one

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        if change:
            return
        key = partner_key_create(partner=obj.partner, name=obj.name, by=request.user)
        created = PartnerAPIKey.objects.filter(partner=obj.partner).latest("created")
        if obj.expiry_date:
            PartnerAPIKey.objects.filter(pk=created.pk).update(expiry_date=obj.expiry_date)
        obj.pk = created.pk
        self.message_user(
            request,
            gettext(
                "The API key for %(partner)s is: %(key)s. Copy it now: it is stored hashed "
                "and cannot be shown again."
            )
            % {"partner": obj.partner, "key": key},
            messages.WARNING,
        )

    @admin.action(description=_("Revoke the selected keys (for good)"), permissions=["change"])
    def revoke_action(self, request, queryset):
        for api_key in queryset.select_related("partner"):
            partner_key_revoke(api_key, by=request.user, reason=gettext("Revoked in the admin"))
        self.message_user(request, gettext("Keys revoked."), messages.SUCCESS)


@admin.register(IdempotencyRecord)
class IdempotencyRecordAdmin(ReadOnlyAdmin):
    """What each Idempotency-Key answered (purged after API_RETENTION_HOURS)."""

    list_display = ("created_at", "partner", "key", "status_code", "order")
    list_filter = ("partner",)
    list_select_related = ("partner", "order")
    search_fields = ("key",)
