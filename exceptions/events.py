"""Audit verbs of the exceptions app."""

from django.utils.translation import gettext_lazy as _

from backoffice.audit.verbs import register_verbs

CASE_OPENED = "exception.opened"
CASE_CLAIMED = "exception.claimed"
CASE_ASSIGNED = "exception.assigned"
CASE_RELEASED = "exception.released"
CASE_RESOLVED = "exception.resolved"
CASE_REJECTED = "exception.rejected"
CASE_REOPENED = "exception.reopened"
TYPE_CHANGED = "exception_type.changed"

register_verbs(
    {
        CASE_OPENED: _("Exception case opened"),
        CASE_CLAIMED: _("Exception case claimed"),
        CASE_ASSIGNED: _("Exception case assigned"),
        CASE_RELEASED: _("Exception case put back in the pool"),
        CASE_RESOLVED: _("Exception case resolved"),
        CASE_REJECTED: _("Exception case rejected"),
        CASE_REOPENED: _("Exception case reopened"),
        TYPE_CHANGED: _("Exception type changed"),
    }
)
