from orders.models.catalog import Coupon, Product, StockLevel, Warehouse
from orders.models.customers import Customer, Partner
from orders.models.flow import (
    AlarmEpisode,
    BreakerEvent,
    BreakerState,
    StageBreaker,
    StageSetting,
    SurgeGrant,
)
from orders.models.lines import OrderLine, Payment, StockReservation
from orders.models.orders import STAGE_PERMISSIONS, Order, order_number_new
from orders.models.timeline import StageVisit

__all__ = [
    "STAGE_PERMISSIONS",
    "AlarmEpisode",
    "BreakerEvent",
    "BreakerState",
    "Coupon",
    "Customer",
    "Order",
    "OrderLine",
    "Partner",
    "Payment",
    "Product",
    "StageBreaker",
    "StageSetting",
    "StageVisit",
    "StockLevel",
    "StockReservation",
    "SurgeGrant",
    "Warehouse",
    "order_number_new",
]
