from orders.admin.catalog import (
    CouponAdmin,
    CustomerAdmin,
    PartnerAdmin,
    PaymentAdmin,
    ProductAdmin,
    StageVisitAdmin,
    StockLevelAdmin,
    WarehouseAdmin,
)
from orders.admin.orders import OrderAdmin

__all__ = [
    "CouponAdmin",
    "CustomerAdmin",
    "OrderAdmin",
    "PartnerAdmin",
    "PaymentAdmin",
    "ProductAdmin",
    "StageVisitAdmin",
    "StockLevelAdmin",
    "WarehouseAdmin",
]
