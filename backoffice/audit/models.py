from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.utils.translation import gettext_lazy as _


class AuditEvent(models.Model):
    """One line of the process audit log: who did what to which object, when and why.

    Written by every service of every app inside the same transaction as the change
    it describes, so the log never claims a change that was rolled back. The
    post-incident review reads it. Append-only: nothing updates or deletes rows.
    """

    at = models.DateTimeField(_("at"), db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("actor"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,  # (actor, at) below serves it
    )
    # Who acted when it was not a person: "system", "partner:<code>", "rule:<id>".
    actor_label = models.CharField(_("actor label"), max_length=150, blank=True)
    verb = models.CharField(_("verb"), max_length=80)
    subject_type = models.ForeignKey(
        ContentType,
        verbose_name=_("subject type"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,  # (subject_type, subject_id, at) below serves it
    )
    subject_id = models.CharField(_("subject id"), max_length=64, blank=True)
    subject_label = models.CharField(_("subject"), max_length=200, blank=True)
    reason = models.TextField(_("reason"), blank=True)
    payload = models.JSONField(_("details"), default=dict, blank=True)

    class Meta:
        verbose_name = _("audit event")
        verbose_name_plural = _("audit events")
        ordering = ["-at", "-id"]
        indexes = [
            models.Index(fields=["subject_type", "subject_id", "at"], name="audit_subject_at"),
            models.Index(fields=["verb", "at"], name="audit_verb_at"),
            models.Index(fields=["actor", "at"], name="audit_actor_at"),
        ]

    def __str__(self):
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.verb} {self.subject_label}"

    @property
    def label(self) -> str:
        from backoffice.audit.verbs import verb_label

        return verb_label(self.verb)

    @property
    def who(self) -> str:
        if self.actor_id:
            return str(self.actor)
        return self.actor_label or "system"
