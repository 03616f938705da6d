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
from orders.admin.flow import (
    AlarmEpisodeAdmin,
    BreakerEventAdmin,
    StageBreakerAdmin,
    StageSettingAdmin,
    SurgeGrantAdmin,
)
from orders.admin.orders import OrderAdmin

__all__ = [
    "AlarmEpisodeAdmin",
    "BreakerEventAdmin",
    "CouponAdmin",
    "CustomerAdmin",
    "OrderAdmin",
    "PartnerAdmin",
    "PaymentAdmin",
    "ProductAdmin",
    "StageBreakerAdmin",
    "StageSettingAdmin",
    "StageVisitAdmin",
    "StockLevelAdmin",
    "SurgeGrantAdmin",
    "WarehouseAdmin",
]
