"""Errors raised by order services.

Each carries a stable machine `code` (the API returns it) and a translated human
message (the admin shows it). A refused action has changed nothing: services raise
before writing or inside the transaction that is rolled back.
"""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _


class OrderActionError(Exception):
    code = "order_action_refused"
    default_message = _("The action was refused.")

    def __init__(self, message=None, *, reasons: list[str] | None = None, code: str | None = None):
        self.message = str(message or self.default_message)
        self.reasons = [str(r) for r in (reasons or [])]
        if code:
            self.code = code
        super().__init__(self.message)

    def __str__(self):
        if self.reasons:
            return f"{self.message} ({'; '.join(self.reasons)})"
        return self.message


class TransitionRefused(OrderActionError):
    """The order is not in a state that allows this, or a check is unmet."""

    code = "transition_not_allowed"
    default_message = _("This step is not allowed for the order in its current stage.")


class ActionForbidden(OrderActionError):
    """The person lacks the stage permission."""

    code = "permission_denied"
    default_message = _("You do not have permission for this step.")


class ConcurrentChange(OrderActionError):
    """Someone else changed the order since it was read: reload and try again."""

    code = "concurrent_change"
    default_message = _(
        "The order was changed by someone else in the meantime. Reload it and try again."
    )


class StockShortage(OrderActionError):
    code = "stock_shortage"
    default_message = _("Not enough stock to reserve this order.")


class InvalidOrderInput(OrderActionError):
    code = "invalid_order"
    default_message = _("The order data is invalid.")


def permission_require(by, permission: str) -> None:
    """Refuse `by` without `permission` (None: the system, which may do anything)."""
    if by is not None and not by.has_perm(permission):
        raise ActionForbidden()
