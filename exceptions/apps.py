from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ExceptionsConfig(AppConfig):
    """Typed exception orders (address change, price difference...) and their pool."""

    name = "exceptions"
    verbose_name = _("Exception orders")
