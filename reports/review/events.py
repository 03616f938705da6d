"""Audit verbs of the post-incident review."""

from django.utils.translation import gettext_lazy as _

from backoffice.audit.verbs import register_verbs

REVIEW_GENERATED = "review.generated"
REVIEW_REGENERATED = "review.regenerated"
REVIEW_NOTES_CHANGED = "review.notes_changed"
REVIEW_FINALIZED = "review.finalized"

register_verbs(
    {
        REVIEW_GENERATED: _("Post-incident review generated"),
        REVIEW_REGENERATED: _("Post-incident review regenerated"),
        REVIEW_NOTES_CHANGED: _("Post-incident review notes changed"),
        REVIEW_FINALIZED: _("Post-incident review finalised"),
    }
)
