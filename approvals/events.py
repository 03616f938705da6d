"""Audit verbs of the approvals app: every rule change, bypass switch, code issue and
use, and price-change decision says who, when and why."""

from django.utils.translation import gettext_lazy as _

from backoffice.audit.verbs import register_verbs

RULE_CREATED = "rule.created"
RULE_CHANGED = "rule.changed"
RULE_APPLIED_TO_WAITING = "rule.applied_to_waiting"
BYPASS_ON = "bypass.on"
BYPASS_OFF = "bypass.off"
BYPASS_EXPIRED = "bypass.expired"
BYPASS_USED = "bypass.used"
OBLIGATION_FULFILLED = "obligation.fulfilled"
CODE_ISSUED = "auth_code.issued"
CODE_REVOKED = "auth_code.revoked"
CODE_USED = "auth_code.used"
CODE_FAILED = "auth_code.failed"
CODE_LOCKOUT = "auth_code.lockout"
PRICE_CHANGE_REQUESTED = "price_change.requested"
PRICE_CHANGE_APPROVED = "price_change.approved"
PRICE_CHANGE_REJECTED = "price_change.rejected"
PRICE_CHANGE_APPLIED = "price_change.applied"
PRICE_CHANGE_WITHDRAWN = "price_change.withdrawn"

register_verbs(
    {
        RULE_CREATED: _("Routing rule created"),
        RULE_CHANGED: _("Routing rule changed"),
        RULE_APPLIED_TO_WAITING: _("Routing rule applied to waiting orders"),
        BYPASS_ON: _("Bypass switched on"),
        BYPASS_OFF: _("Bypass switched off"),
        BYPASS_EXPIRED: _("Bypass expired"),
        BYPASS_USED: _("Bypass used"),
        OBLIGATION_FULFILLED: _("Obligation fulfilled"),
        CODE_ISSUED: _("Authorization code issued"),
        CODE_REVOKED: _("Authorization code revoked"),
        CODE_USED: _("Authorization code used"),
        CODE_FAILED: _("Authorization code refused"),
        CODE_LOCKOUT: _("Code entry locked"),
        PRICE_CHANGE_REQUESTED: _("Price change requested"),
        PRICE_CHANGE_APPROVED: _("Price change approved"),
        PRICE_CHANGE_REJECTED: _("Price change rejected"),
        PRICE_CHANGE_APPLIED: _("Price change applied with a code"),
        PRICE_CHANGE_WITHDRAWN: _("Price change withdrawn"),
    }
)
