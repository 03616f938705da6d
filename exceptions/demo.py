"""Demo data of the exceptions app: the six types of the brief, a customer-service login,
and open cases on live orders (an address change and an unpaid presale order held)."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from exceptions.models import CaseSource, ExceptionCase, ExceptionType
from exceptions.teams import CUSTOMER_SERVICE
from orders import teams

# code: (Chinese name, English name, Chinese tag, English tag, team, SLA minutes,
#        holds the order, checklist)
TYPES = {
    "address_change": (
        "改址",
        "Address change",
        "【改址】",
        "[Address change]",
        CUSTOMER_SERVICE,
        30,
        True,
        "与客户确认新地址\n更新面单 / update the shipping label\n通知仓库 / tell the warehouse",
    ),
    "invoice_reissue": (
        "发票重开",
        "Invoice reissue",
        "【发票重开】",
        "[Invoice reissue]",
        teams.FINANCE,
        240,
        False,
        "作废原发票 / void the old invoice\n按新抬头开票 / issue with the new title",
    ),
    "gift_addition": (
        "赠品追加",
        "Gift addition",
        "【赠品追加】",
        "[Gift addition]",
        CUSTOMER_SERVICE,
        60,
        True,
        "确认赠品库存 / check the gift's stock\n加入拣货单 / add it to the pick list",
    ),
    "price_difference": (
        "补差价",
        "Price difference",
        "【补差】",
        "[Price difference]",
        teams.FINANCE,
        120,
        False,
        "核对实付金额 / check the amount paid\n退款或补收 / refund or collect",
    ),
    "return_exchange_sync": (
        "退换货同步",
        "Return/exchange sync",
        "【退换同步】",
        "[Return/exchange sync]",
        CUSTOMER_SERVICE,
        120,
        False,
        "同步退换货单 / sync the return order",
    ),
    "presale_payment_due": (
        "预售转现货待付款",
        "Presale turned in-stock, payment due",
        "【预售转现货】",
        "[Presale in stock]",
        teams.FINANCE,
        60,
        True,
        "催付尾款 / ask for the balance\n确认到账后关闭 / close once paid",
    ),
}
SERVICE_LOGIN = "service1"


def exceptions_types_ensure() -> dict[str, ExceptionType]:
    groups = {g.name: g for g in Group.objects.all()}
    created = {}
    for order_index, (code, spec) in enumerate(TYPES.items()):
        name_zh, name_en, tag_zh, tag_en, team, sla, blocks, checklist = spec
        created[code], _ = ExceptionType.objects.get_or_create(
            code=code,
            defaults={
                "name_zh": name_zh,
                "name_en": name_en,
                "tag_zh": tag_zh,
                "tag_en": tag_en,
                "team": groups.get(team) or Group.objects.get_or_create(name=team)[0],
                "sla_minutes": sla,
                "blocks_dispatch": blocks,
                "checklist": checklist,
                "sort_order": order_index * 10,
            },
        )
    return created


def exceptions_demo_seed(*, now=None) -> None:
    from exceptions.services.cases import case_open
    from orders.demo.catalog import TEAM_PASSWORD
    from orders.models import Order
    from orders.states import OPEN_STAGES

    exceptions_types_ensure()
    user, created = get_user_model().objects.get_or_create(
        username=SERVICE_LOGIN,
        defaults={"is_staff": True, "first_name": "晓", "last_name": "赵"},
    )
    if created:
        user.set_password(TEAM_PASSWORD)
        user.save()
    user.groups.add(Group.objects.get(name=CUSTOMER_SERVICE))
    if ExceptionCase.objects.exists():
        return
    # Cases on the live orders (made through the services at the real clock): an
    # address change after review holds its order; the others run alongside.
    live = list(
        Order.objects.filter(external_ref__startswith="LIVE-", status__in=OPEN_STAGES).order_by(
            "-status", "id"
        )
    )
    plan = [
        (
            "address_change",
            CaseSource.PARTNER_API,
            "客户来电改地址 / the customer called to change the address",
        ),
        ("invoice_reissue", CaseSource.STAFF, "需要重开专票 / a VAT invoice is needed"),
        ("gift_addition", CaseSource.STAFF, "老客户加赠试用装 / add a sample for a loyal customer"),
        ("return_exchange_sync", CaseSource.STAFF, "上一单退货需同步 / sync the last return"),
    ]
    for order, (code, source, text) in zip(live, plan, strict=False):
        case_open(order, type=code, source=source, description=text)
    presale = _presale_unpaid_order()
    if presale is not None:
        from exceptions.detectors import detect_on_intake

        detect_on_intake(presale)  # at once: the seed's transaction commits later


def _presale_unpaid_order():
    """A presale order whose balance is still due: held, and it can never be dispatched."""
    from orders.models import Customer, Product
    from orders.services import AddressInput, LineInput, OrderInput, order_create
    from orders.states import PaymentMethod, Source, Via

    product = Product.objects.filter(is_presale=True, is_active=True).first()
    customer = Customer.objects.order_by("id").first()
    if product is None or customer is None:
        return None
    data = OrderInput(
        customer=customer,
        partner=customer.partner,
        external_ref="LIVE-PRESALE-1",
        lines=[LineInput(product=product, quantity=1)],
        shipping=AddressInput(
            name=customer.name,
            phone=customer.phone or "13800000000",
            province="浙江省",
            city="杭州市",
            district="西湖区",
            line1="文三路 100 号",
        ),
        payment_method=PaymentMethod.PREPAID,
        paid=False,
        notes="预售定金已付，尾款未付 / deposit paid, balance due",
    )
    return order_create(data, actor_label="demo", source=Source.DEMO, via=Via.API)


def exceptions_demo_reset() -> None:
    ExceptionCase.objects.all().delete()
