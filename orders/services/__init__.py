"""Every change to orders goes through these services (STYLE.md rule 3)."""

from orders.services.errors import (
    ActionForbidden,
    ConcurrentChange,
    InvalidOrderInput,
    OrderActionError,
    StockShortage,
    TransitionRefused,
)
from orders.services.intake import AddressInput, LineInput, OrderInput, order_create
from orders.services.lifecycle import (
    COMPLETING_TRANSITION,
    TRANSITION_NAMES,
    order_available_transitions,
    order_cancel,
    order_complete_stage,
    order_dispatch,
    order_hold,
    order_release,
    order_route_forward,
    order_transition,
    order_unmet_checks,
    transition_label,
)
from orders.services.orders import (
    EDITABLE_FIELDS,
    order_record_payment,
    order_update_details,
    order_upload_qc_photo,
    order_verify_coupon,
)
from orders.services.picking import pick_list_print
from orders.services.stock import (
    order_reserve_stock,
    stock_release_for_order,
)

__all__ = [
    "COMPLETING_TRANSITION",
    "EDITABLE_FIELDS",
    "TRANSITION_NAMES",
    "ActionForbidden",
    "AddressInput",
    "ConcurrentChange",
    "InvalidOrderInput",
    "LineInput",
    "OrderActionError",
    "OrderInput",
    "StockShortage",
    "TransitionRefused",
    "order_available_transitions",
    "order_cancel",
    "order_complete_stage",
    "order_create",
    "order_dispatch",
    "order_hold",
    "order_record_payment",
    "order_release",
    "order_reserve_stock",
    "order_route_forward",
    "order_transition",
    "order_unmet_checks",
    "order_update_details",
    "order_upload_qc_photo",
    "order_verify_coupon",
    "pick_list_print",
    "stock_release_for_order",
    "transition_label",
]
