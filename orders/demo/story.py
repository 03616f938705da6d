"""The demo's story in numbers and words: volumes, dwell times, reasons, carriers,
and the plain data classes the simulation fills (times in epoch seconds, UTC)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal

from orders.states import OrderStatus, PaymentMethod, PaymentStatus

S = OrderStatus
MINUTE = 60.0
HOUR = 3600.0
DAY = 86400.0

# The stages people work, in order, and who completes each (a demo login).
WORKED = [S.SALES_REVIEW, S.FINANCE_REVIEW, S.STOCK_RESERVATION, S.PICKING, S.QUALITY_CHECK]
TEAM_USER = {
    S.SALES_REVIEW: "sales1",
    S.FINANCE_REVIEW: "finance1",
    S.STOCK_RESERVATION: "warehouse1",
    S.PICKING: "warehouse1",
    S.QUALITY_CHECK: "qc1",
}
SUPERVISOR = "supervisor"
TRANSITION = {
    S.RECEIVED: "accept",
    S.SALES_REVIEW: "approve_sales",
    S.FINANCE_REVIEW: "approve_finance",
    S.STOCK_RESERVATION: "reserve_stock",
    S.PICKING: "finish_picking",
    S.QUALITY_CHECK: "dispatch",
}
NEXT = {
    S.SALES_REVIEW: S.FINANCE_REVIEW,
    S.FINANCE_REVIEW: S.STOCK_RESERVATION,
    S.STOCK_RESERVATION: S.PICKING,
    S.PICKING: S.QUALITY_CHECK,
    S.QUALITY_CHECK: S.DISPATCHED,
}
# Manual dwell per stage in minutes: (low, mode, high) of a triangular distribution.
# Sums to ~95 min on average: most orders leave within the 2-hour promise.
DWELL_MINUTES = [(5, 10, 40), (5, 10, 50), (5, 8, 30), (10, 18, 60), (5, 8, 20)]
# Relative order volume per local hour: quiet at night, peaks 10-12 and 20-22.
HOURLY_SHAPE = [
    2.0, 1.2, 0.7, 0.4, 0.3, 0.3, 0.6, 1.5, 3.0, 5.0, 7.0, 7.5,
    6.0, 5.0, 5.5, 5.5, 5.0, 4.5, 4.5, 5.5, 7.0, 7.5, 6.0, 4.0,
]  # fmt: skip
# Monday..Sunday, mean 1.0: weekends are busier.
WEEKDAY_SHAPE = [0.93, 0.91, 0.93, 0.95, 1.0, 1.14, 1.14]
# Dwell slows down under load (peaks) and with the night crew.
HOUR_SLOWDOWN = [1.3] * 8 + [1.0] * 2 + [1.15] * 2 + [1.0] * 8 + [1.15] * 2 + [1.0] * 2

PARTNER_PAYMENTS = {
    # partner code -> (method, weight)
    "tmall": [(PaymentMethod.PREPAID, 0.97), (PaymentMethod.COD, 0.03)],
    "jd": [
        (PaymentMethod.PREPAID, 0.80),
        (PaymentMethod.COD, 0.15),
        (PaymentMethod.TRANSFER, 0.05),
    ],
    "douyin": [(PaymentMethod.PREPAID, 0.90), (PaymentMethod.COD, 0.10)],
    "web": [
        (PaymentMethod.PREPAID, 0.60),
        (PaymentMethod.TRANSFER, 0.20),
        (PaymentMethod.CREDIT, 0.12),
        (PaymentMethod.COD, 0.08),
    ],
}
# Minimum goods amount per coupon code (the campaign's "满 X 减 Y").
COUPON_MINIMUM = {
    "STORE-ANNIV-30": Decimal("299"),
    "NEWBIE-20": Decimal("0"),
    "MEMBER-DAY-100": Decimal("1000"),
    "FLASH-200": Decimal("1999"),
}
CARRIERS = [
    ("顺丰速运", "SF", 12, 0.30),
    ("中通快递", "7", 13, 0.22),
    ("圆通速递", "YT", 13, 0.18),
    ("京东物流", "JDVA", 11, 0.12),
    ("韵达快递", "43", 13, 0.12),
    ("邮政EMS", "98", 11, 0.06),
]
HOLD_REASONS = [
    ("客户要求修改收货地址", "地址已更新"),
    ("发票信息待补充", "已补全开票信息"),
    ("价格差异待确认", "差价已与客户确认"),
    ("客户要求加送赠品", "赠品已加入订单"),
    ("预售商品到货时间待确认", "已确认到货，恢复处理"),
    ("退换货同步中", "退换货已同步"),
]
CANCEL_REASONS = [
    "客户申请取消",
    "重复下单",
    "收货地址无法送达",
    "客户改买其他款式",
    "疑似刷单，风控拦截",
    "超时未付款",
]
NOTES = [
    "请尽快发货",
    "工作日送货",
    "不要放快递柜，请电话联系",
    "礼品请勿放发票",
    "需要开增值税专票",
]
EPISODE_NOTE = "拣货单打印机故障，修复后补打"
WORKAROUND_NOTE = "打印机故障，手写拣货单"
INTAKE_REASON = "intake complete"  # what the system router says when it passes `received`
QC_PHOTO_NAME = "qc/demo/qc-photo.png"


@dataclass(slots=True)
class LineDraft:
    product: int  # index into Catalog.products
    quantity: int
    unit_price: Decimal
    is_customised: bool
    is_split_shipment: bool
    # (stock key (product, warehouse), quantity, reserved_at, released_at, consumed_at)
    reservations: list = field(default_factory=list)


@dataclass(slots=True)
class Visit:
    stage: str
    entered_at: float
    left_at: float | None
    actor: str | None  # demo login that ended the visit, None for the system
    via: str
    reason: str
    target: str | None  # stage after the visit (None while open)
    transition: str | None


@dataclass(slots=True)
class OrderDraft:
    """One order: the random draws, then (after `_timeline`) its fate as of now."""

    number: str
    external_ref: str
    customer: int
    partner: int
    placed_at: float
    created_at: float
    payment_method: str
    payment_reference: str
    coupon: int | None
    lines: list[LineDraft]
    goods_amount: Decimal
    discount_amount: Decimal
    total_amount: Decimal
    is_presale: bool
    is_expedited: bool
    invoice_title: str
    invoice_tax_id: str
    notes: str
    dwell: list[float]  # minutes per WORKED stage before slowdowns
    episode_minutes: float  # picking dwell if it enters during the slow-picking episode
    # Picking dwell with a handwritten pick list while the printer is down (None: stuck).
    workaround_minutes: float | None
    hold: tuple | None  # (stage index, fraction, minutes, reason index, tail minutes)
    cancel: tuple | None  # (stage index, fraction, reason index)
    pay_delay: float  # transfer: seconds after placing; credit: seconds after dispatch
    carrier: int
    tracking_number: str
    print_lead: float  # minutes from entering picking to the printed pick list
    photo_lead: float  # minutes between the QC photo and dispatch
    # Filled by _timeline.
    status: str = ""
    held_from: str = ""
    stage_entered_at: float = 0.0
    updated_at: float = 0.0
    visits: list[Visit] = field(default_factory=list)
    payments: list[tuple] = field(default_factory=list)  # (amount, reference, paid_at, by)
    amount_paid: Decimal = Decimal("0.00")
    payment_status: str = PaymentStatus.UNPAID
    coupon_verified_at: float | None = None
    pick_list_printed_at: float | None = None
    qc_photo_at: float | None = None
    dispatched_at: float | None = None
    cancelled_at: float | None = None
    cancel_reason: str = ""
    stuck_in_stock: bool = False

    @property
    def is_open(self) -> bool:
        return self.status not in (S.DISPATCHED, S.CANCELLED)


@dataclass
class Incidents:
    """The disruptions the demo story needs (epoch seconds)."""

    # Yesterday afternoon picking slowed (pick lists printed late): dwell 2-3 h.
    slow_picking: tuple[float, float] | None = None
    # Today the pick-list printer is down: nothing entering picking since leaves it.
    printer_fault_since: float | None = None


def to_datetime(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def cumulative(weights):
    total = 0.0
    for weight in weights:
        total += weight
        yield total
