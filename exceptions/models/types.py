"""Exception types: what kind of special order, who owns it, how fast, whether it holds
the main line."""

from django.contrib.auth.models import Group
from django.db import models
from django.utils import translation
from django.utils.translation import gettext_lazy as _


class ExceptionType(models.Model):
    code = models.SlugField(_("code"), max_length=40, unique=True)
    name_zh = models.CharField(_("name (Chinese)"), max_length=60)
    name_en = models.CharField(_("name (English)"), max_length=60)
    tag_zh = models.CharField(
        _("tag (Chinese)"), max_length=12, help_text=_("Shown everywhere, e.g. 【改址】.")
    )
    tag_en = models.CharField(_("tag (English)"), max_length=30)
    team = models.ForeignKey(
        Group,
        verbose_name=_("owning team"),
        on_delete=models.PROTECT,
        related_name="exception_types",
    )
    sla_minutes = models.PositiveIntegerField(_("SLA (minutes)"), default=60)
    blocks_dispatch = models.BooleanField(
        _("holds the order"),
        default=False,
        help_text=_(
            "A case of this type puts the order on hold until it is resolved, and the "
            "order cannot be dispatched meanwhile. Otherwise the case runs alongside."
        ),
    )
    checklist = models.TextField(
        _("resolution checklist"), blank=True, help_text=_("One step per line.")
    )
    is_active = models.BooleanField(_("active"), default=True)
    sort_order = models.PositiveSmallIntegerField(_("sort order"), default=10)

    class Meta:
        verbose_name = _("exception type")
        verbose_name_plural = _("exception types")
        ordering = ["sort_order", "code"]

    def __str__(self):
        return self.name

    @property
    def name(self) -> str:
        return self.name_zh if _chinese() else self.name_en

    @property
    def tag(self) -> str:
        return self.tag_zh if _chinese() else self.tag_en

    def checklist_items(self) -> list[str]:
        return [line.strip() for line in self.checklist.splitlines() if line.strip()]


def _chinese() -> bool:
    return (translation.get_language() or "").lower().startswith("zh")
