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
from orders.admin.health import OrderHealthAdmin, ScoreWeightsAdmin  # noqa: F401
from orders.admin.orders import OrderAdmin
from orders.admin.partners import IdempotencyRecordAdmin, PartnerAPIKeyAdmin
from orders.admin.webhooks import WebhookDeliveryAdmin, WebhookSubscriptionAdmin

__all__ = [
    "AlarmEpisodeAdmin",
    "BreakerEventAdmin",
    "CouponAdmin",
    "CustomerAdmin",
    "IdempotencyRecordAdmin",
    "OrderAdmin",
    "PartnerAPIKeyAdmin",
    "PartnerAdmin",
    "PaymentAdmin",
    "ProductAdmin",
    "StageBreakerAdmin",
    "StageSettingAdmin",
    "StageVisitAdmin",
    "StockLevelAdmin",
    "SurgeGrantAdmin",
    "WarehouseAdmin",
    "WebhookDeliveryAdmin",
    "WebhookSubscriptionAdmin",
]
