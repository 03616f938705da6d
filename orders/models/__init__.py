from orders.models.catalog import Coupon, Product, StockLevel, Warehouse
from orders.models.customers import Customer, Partner
from orders.models.evaluation import (
    ConnectorState,
    EvaluationCard,
    OrderHealth,
    PartStatus,
    ScoreWeights,
    SourceKind,
)
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
from orders.models.partners import IdempotencyRecord, PartnerAPIKey
from orders.models.timeline import StageVisit
from orders.models.webhooks import (
    WebhookAttempt,
    WebhookDelivery,
    WebhookEvent,
    WebhookSubscription,
)

__all__ = [
    "STAGE_PERMISSIONS",
    "AlarmEpisode",
    "BreakerEvent",
    "BreakerState",
    "ConnectorState",
    "Coupon",
    "Customer",
    "EvaluationCard",
    "IdempotencyRecord",
    "Order",
    "OrderHealth",
    "OrderLine",
    "PartStatus",
    "Partner",
    "PartnerAPIKey",
    "Payment",
    "Product",
    "ScoreWeights",
    "SourceKind",
    "StageBreaker",
    "StageSetting",
    "StageVisit",
    "StockLevel",
    "StockReservation",
    "SurgeGrant",
    "Warehouse",
    "WebhookAttempt",
    "WebhookDelivery",
    "WebhookEvent",
    "WebhookSubscription",
    "order_number_new",
]
