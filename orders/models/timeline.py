from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from orders.models.orders import Order
from orders.states import OrderStatus, Via


class StageVisit(models.Model):
    """One stay of an order in one stage: the stage timeline.

    Dwell times, backlogs, SLA breaches, heatmaps and reviews are all computed from
    this table. `actor` and `via` say how the visit ENDED (who or what completed
    the stage); an open visit has neither yet. A stage passed automatically is a
    zero-length visit (entered_at == left_at) with via=rule or bypass and the
    deciding rule in `detail`, so auto-passed shares and manual dwell come from
    one table, counted apart.
    """

    # No single-column FK indexes: (order, entered_at) serves order lookups, and people
    # are deactivated rather than deleted. Fewer indexes keep this hot append cheap.
    order = models.ForeignKey(
        Order,
        verbose_name=_("order"),
        on_delete=models.CASCADE,
        related_name="visits",
        db_index=False,
    )
    stage = models.CharField(_("stage"), max_length=20, choices=OrderStatus)
    entered_at = models.DateTimeField(_("entered at"))
    left_at = models.DateTimeField(_("left at"), null=True, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("completed by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,
    )
    via = models.CharField(_("via"), max_length=10, choices=Via, blank=True)
    reason = models.CharField(_("note"), max_length=300, blank=True)
    detail = models.JSONField(_("details"), default=dict, blank=True)

    class Meta:
        verbose_name = _("stage visit")
        verbose_name_plural = _("stage timeline")
        ordering = ["entered_at", "id"]
        constraints = [
            # An open order has exactly one open visit; the database guarantees "at most".
            models.UniqueConstraint(
                fields=["order"], condition=Q(left_at=None), name="one_open_visit_per_order"
            ),
            models.CheckConstraint(
                condition=Q(left_at=None) | Q(left_at__gte=models.F("entered_at")),
                name="visit_ends_after_start",
            ),
        ]
        indexes = [
            models.Index(fields=["order", "entered_at"], name="visit_order_time"),
            # Arrivals per stage and hour (heatmaps), exits per stage (throughput).
            models.Index(fields=["stage", "entered_at"], name="visit_stage_entered"),
            models.Index(fields=["stage", "left_at"], name="visit_stage_left"),
            # Who is waiting where, oldest first: a small partial index.
            models.Index(
                fields=["stage", "entered_at"],
                condition=Q(left_at=None),
                name="visit_open_by_stage",
            ),
        ]

    def __str__(self):
        return f"{self.order_id} {self.stage} {self.entered_at:%H:%M}"

    @property
    def is_open(self) -> bool:
        return self.left_at is None

    @property
    def dwell_seconds(self) -> float | None:
        if self.left_at is None:
            return None
        return (self.left_at - self.entered_at).total_seconds()
