"""The order lifecycle's vocabulary: states, how a stage visit ended, stage order.

The state slugs are a published contract (reports, the partner API and partners'
code use them): never rename one.
"""

from django.db import models
from django.utils.translation import gettext_lazy as _


class OrderStatus(models.TextChoices):
    # Created by intake; the system routes it on as soon as the order is ready.
    RECEIVED = "received", _("Received")
    # Sales confirms the order (coupon validity, price changes).
    SALES_REVIEW = "sales_review", _("Sales review")
    # Finance checks prices and, for credit orders, the customer's credit limit.
    FINANCE_REVIEW = "finance_review", _("Finance review (price check)")
    # The warehouse reserves stock for every line (row-locked, never oversold).
    STOCK_RESERVATION = "stock_reservation", _("Stock reservation")
    # The pick list is printed and the goods are picked.
    PICKING = "picking", _("Picking (pick list printed)")
    # QC takes the photo; the order leaves this stage by being dispatched.
    QUALITY_CHECK = "quality_check", _("Quality check (photo)")
    # Handed to the carrier. Terminal.
    DISPATCHED = "dispatched", _("Dispatched")
    # Parked by a blocking exception; returns to the stage it left.
    ON_HOLD = "on_hold", _("On hold")
    # Stopped before dispatch; reserved stock is released. Terminal.
    CANCELLED = "cancelled", _("Cancelled")


class Via(models.TextChoices):
    """How a stage visit ended: who or what completed the stage."""

    MANUAL = "manual", _("Manual")
    RULE = "rule", _("Routing rule")
    BYPASS = "bypass", _("Emergency bypass")
    AUTH_CODE = "auth_code", _("Authorization code")
    API = "api", _("API")
    IMPORT = "import", _("Import")
    SYSTEM = "system", _("System")


class Source(models.TextChoices):
    """Where an order came in."""

    ADMIN = "admin", _("Back-office")
    API = "api", _("Partner API")
    IMPORT = "import", _("Import")
    DEMO = "demo", _("Demo data")


class PaymentMethod(models.TextChoices):
    PREPAID = "prepaid", _("Prepaid")
    COD = "cod", _("Cash on delivery")
    CREDIT = "credit", _("Credit (invoice later)")
    TRANSFER = "transfer", _("Bank transfer")


class PaymentStatus(models.TextChoices):
    UNPAID = "unpaid", _("Unpaid")
    PARTIAL = "partial", _("Partly paid")
    PAID = "paid", _("Paid")


class Lane(models.IntegerChoices):
    """Where an order queues within its stage (set from its health score)."""

    FAST = 0, _("Fast lane")
    NORMAL = 1, _("Normal")
    WATCH = 2, _("Watch queue")


S = OrderStatus

# The main line, in order. Each open stage has exactly one open timeline visit.
MAIN_LINE = [
    S.RECEIVED,
    S.SALES_REVIEW,
    S.FINANCE_REVIEW,
    S.STOCK_RESERVATION,
    S.PICKING,
    S.QUALITY_CHECK,
]
OPEN_STAGES = [*MAIN_LINE, S.ON_HOLD]
TERMINAL_STATES = [S.DISPATCHED, S.CANCELLED]
CANCELLABLE = [*MAIN_LINE, S.ON_HOLD]
# Stages a router may pass automatically (zero-length visit with via=rule/bypass).
AUTO_PASSABLE = [S.RECEIVED, S.SALES_REVIEW, S.FINANCE_REVIEW]


def next_stage(stage: str) -> str:
    """The stage after `stage` on the main line; quality_check leads to dispatch."""
    index = MAIN_LINE.index(stage)
    if index + 1 < len(MAIN_LINE):
        return MAIN_LINE[index + 1]
    return S.DISPATCHED
