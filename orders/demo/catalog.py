"""The demo shop's master data: channels, customers, products, warehouses, stock,
coupons and the staff logins. Small tables, created with a handful of bulk inserts.

Everything is drawn from the caller's seeded `random.Random`, so the same seed gives
the same shop.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from orders import teams
from orders.models import Coupon, Customer, Partner, Product, StockLevel, Warehouse

SUPERVISOR_LOGIN = ("supervisor", "supervisor-demo")
TEAM_PASSWORD = "demo-pass"
DEMO_MAIL_DOMAIN = "demo.example"
# username -> (group, family name, given name); the supervisor is also a superuser.
STAFF = {
    "supervisor": (teams.SUPERVISORS, "陈", "静"),
    "sales1": (teams.SALES, "王", "芳"),
    "finance1": (teams.FINANCE, "李", "娜"),
    "warehouse1": (teams.WAREHOUSE, "张", "伟"),
    "qc1": (teams.QUALITY, "刘", "洋"),
}

# code, name, share of orders, external reference style
PARTNERS = [
    ("tmall", "天猫旗舰店 Tmall", 0.35),
    ("jd", "京东自营 JD", 0.28),
    ("douyin", "抖音小店 Douyin", 0.22),
    ("web", "官网商城 Web shop", 0.15),
]

# code, name, priority
WAREHOUSES = [
    ("hz", "杭州仓 Hangzhou", 1),
    ("sh", "上海仓 Shanghai", 2),
    ("gz", "广州仓 Guangzhou", 3),
]

# name, list price (CNY), presale
PRODUCTS = [
    ("无线蓝牙耳机 Air Lite", "199.00", False),
    ("降噪头戴式耳机 NC700", "1299.00", False),
    ("智能手环 7 NFC版", "249.00", False),
    ("智能手表 GT 运动版", "1488.00", False),
    ("快充充电宝 20000mAh", "159.00", False),
    ("65W 氮化镓充电器", "129.00", False),
    ("Type-C 编织数据线 1.5m", "29.00", False),
    ("机械键盘 青轴 87键", "399.00", False),
    ("无线鼠标 静音款", "89.00", False),
    ("27英寸 4K 显示器", "2399.00", False),
    ("轻薄笔记本电脑 14英寸", "5999.00", False),
    ("平板电脑 11英寸 128G", "2699.00", False),
    ("折叠屏手机 X Fold 512G (预售)", "8999.00", True),
    ("旗舰手机 Pro 256G", "5499.00", False),
    ("手机壳 磁吸透明款", "39.00", False),
    ("钢化膜 两片装", "19.00", False),
    ("空气炸锅 5L", "299.00", False),
    ("IH 电饭煲 4L", "599.00", False),
    ("破壁料理机", "499.00", False),
    ("扫地机器人 S8", "2299.00", False),
    ("无线手持吸尘器", "1299.00", False),
    ("声波电动牙刷", "269.00", False),
    ("负离子吹风机", "399.00", False),
    ("静音加湿器 4L", "159.00", False),
    ("空气净化器 除甲醛", "1899.00", False),
    ("316不锈钢保温杯 500ml", "89.00", False),
    ("不粘炒锅 32cm", "219.00", False),
    ("厨房刀具六件套", "329.00", False),
    ("天然乳胶枕", "199.00", False),
    ("纯棉四件套 1.8m床", "359.00", False),
    ("冬季加厚羽绒被", "699.00", False),
    ("男士轻薄羽绒服 黑色 L", "599.00", False),
    ("女士羊毛大衣 驼色 M", "1299.00", False),
    ("缓震跑鞋 42码", "499.00", False),
    ("加厚瑜伽垫 10mm", "79.00", False),
    ("商务双肩背包", "259.00", False),
    ("20寸登机箱", "399.00", False),
    ("偏光太阳镜", "199.00", False),
    ("控油去屑洗发水 750ml", "69.00", False),
    ("保湿修护面霜 50ml", "329.00", False),
    ("丝绒哑光口红 正红色", "299.00", False),
    ("防晒霜 SPF50+", "129.00", False),
    ("婴儿纸尿裤 L码 54片", "139.00", False),
    ("婴儿配方奶粉 3段 800g", "298.00", False),
    ("儿童积木 城市系列 1000块", "459.00", False),
    ("全价成猫粮 10kg", "239.00", False),
    ("中大型犬狗粮 15kg", "329.00", False),
    ("中度烘焙咖啡豆 500g", "98.00", False),
    ("明前龙井绿茶 250g", "268.00", False),
    ("每日坚果礼盒 30袋", "139.00", False),
    ("五常大米 10kg", "119.00", False),
    ("特级初榨橄榄油 1L", "99.00", False),
    ("赤霞珠红酒 750ml×6", "899.00", False),
    ("新春年货礼盒 (预售)", "298.00", True),
    ("48V 电动自行车 (预售)", "2999.00", True),
    ("3-4人露营帐篷", "599.00", False),
    ("碳纤维登山杖 2支", "169.00", False),
    ("家用 1080P 投影仪", "1999.00", False),
    ("便携防水蓝牙音箱", "299.00", False),
    ("无线游戏手柄", "349.00", False),
]

# province, city, district, street, postal code
ADDRESSES = [
    ("浙江省", "杭州市", "西湖区", "文三路", "310012"),
    ("浙江省", "杭州市", "余杭区", "文一西路", "311121"),
    ("浙江省", "宁波市", "鄞州区", "天童南路", "315100"),
    ("上海市", "上海市", "浦东新区", "世纪大道", "200120"),
    ("上海市", "上海市", "徐汇区", "漕溪北路", "200030"),
    ("北京市", "北京市", "朝阳区", "建国路", "100022"),
    ("北京市", "北京市", "海淀区", "中关村大街", "100080"),
    ("广东省", "广州市", "天河区", "天河路", "510620"),
    ("广东省", "深圳市", "南山区", "科技园南路", "518057"),
    ("广东省", "东莞市", "南城区", "鸿福路", "523000"),
    ("江苏省", "南京市", "鼓楼区", "中山北路", "210008"),
    ("江苏省", "苏州市", "工业园区", "星湖街", "215021"),
    ("四川省", "成都市", "武侯区", "天府大道", "610041"),
    ("湖北省", "武汉市", "洪山区", "珞喻路", "430074"),
    ("山东省", "青岛市", "市南区", "香港中路", "266071"),
    ("福建省", "厦门市", "思明区", "湖滨南路", "361004"),
    ("陕西省", "西安市", "雁塔区", "高新路", "710075"),
    ("湖南省", "长沙市", "岳麓区", "麓山南路", "410083"),
    ("重庆市", "重庆市", "渝中区", "民族路", "400010"),
    ("天津市", "天津市", "和平区", "南京路", "300041"),
]

SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗高郑梁谢宋唐许韩冯邓曹"
    "彭曾肖田董潘袁蔡蒋余于杜叶程魏苏吕丁任沈"
)
GIVEN = (
    "伟芳娜敏静丽强磊军洋勇艳杰涛明超秀霞平刚桂英华玉萍红娟建文辉"
    "力晨宇浩然欣怡子涵梓轩雨萱思远嘉俊婷雪梅晓东海燕佳琪"
)
MOBILE_PREFIXES = [
    *(f"13{d}" for d in range(10)),
    *("150", "151", "152", "155", "156", "157", "158", "159"),
    *("166", "170", "176", "177", "178"),
    *(f"18{d}" for d in range(10)),
    *("191", "198", "199"),
]
COMPANIES = [
    "杭州云栖科技有限公司",
    "上海启明贸易有限公司",
    "深圳前海数智有限公司",
    "北京星河文化传媒有限公司",
]

TIERS = [
    (Customer.Tier.STANDARD, 0.55),
    (Customer.Tier.SILVER, 0.25),
    (Customer.Tier.GOLD, 0.14),
    (Customer.Tier.VIP, 0.06),
]
CREDIT_LIMITS = {
    Customer.Tier.STANDARD: Decimal("0.00"),
    Customer.Tier.SILVER: Decimal("5000.00"),
    Customer.Tier.GOLD: Decimal("20000.00"),
    Customer.Tier.VIP: Decimal("50000.00"),
}

# Products that are nearly out of stock in exactly one warehouse.
SHORT_PRODUCT_COUNT = 8


@dataclass
class Catalog:
    """The master rows the order generator refers to, by list index."""

    users: dict[str, int]  # username -> id
    partners: list[Partner]
    customers: list[Customer]
    customer_weights: list[float]
    addresses: list[tuple[str, str, str, str, str]]  # per customer: province..postal
    products: list[Product]
    product_weights: list[float]
    warehouses: list[Warehouse]
    # stock[(product index, warehouse index)] -> StockLevel
    stock: dict[tuple[int, int], StockLevel]
    coupons: list[Coupon]


def staff_ensure(*, set_passwords: bool) -> dict[str, int]:
    """The demo logins, in their team groups (created by the post_migrate hook)."""
    user_model = get_user_model()
    groups = {g.name: g for g in Group.objects.filter(name__in=[v[0] for v in STAFF.values()])}
    ids = {}
    for username, (group_name, family, given) in STAFF.items():
        user, created = user_model.objects.get_or_create(
            username=username,
            defaults={"is_staff": True, "first_name": given, "last_name": family},
        )
        user.email = f"{username}@{DEMO_MAIL_DOMAIN}"
        is_supervisor = username == SUPERVISOR_LOGIN[0]
        if created or set_passwords:
            user.set_password(SUPERVISOR_LOGIN[1] if is_supervisor else TEAM_PASSWORD)
        user.is_staff = True
        user.is_active = True
        user.is_superuser = is_supervisor
        user.save(update_fields=["password", "is_staff", "is_active", "is_superuser", "email"])
        if group_name in groups:
            user.groups.add(groups[group_name])
        ids[username] = user.pk
    return ids


def _customer_name(rng: random.Random) -> str:
    given = rng.choice(GIVEN) + (rng.choice(GIVEN) if rng.random() < 0.7 else "")
    return rng.choice(SURNAMES) + given


def _phone(rng: random.Random) -> str:
    return rng.choice(MOBILE_PREFIXES) + f"{rng.randrange(10**8):08d}"


def _rate(rng: random.Random, low: float, high: float) -> Decimal:
    return Decimal(str(round(rng.uniform(low, high), 3)))


def catalog_create(
    rng: random.Random, *, now: datetime, customers: int, users: dict[str, int]
) -> Catalog:
    """Insert the master data and return it as a Catalog."""
    partners = Partner.objects.bulk_create(
        [Partner(code=code, name=name) for code, name, _share in PARTNERS]
    )
    warehouses = Warehouse.objects.bulk_create(
        [Warehouse(code=code, name=name, priority=prio) for code, name, prio in WAREHOUSES]
    )
    products = Product.objects.bulk_create(
        [
            Product(sku=f"SKU-{i:04d}", name=name, list_price=Decimal(price), is_presale=presale)
            for i, (name, price, presale) in enumerate(PRODUCTS, start=1)
        ]
    )
    # Popularity: a long tail, cheap items sell more often than expensive ones.
    product_weights = [
        rng.lognormvariate(0, 0.8)
        * (1.6 if p.list_price < 300 else 1.0)
        * (0.4 if p.is_presale else 1.0)
        for p in products
    ]

    short = set(rng.sample(range(len(products)), SHORT_PRODUCT_COUNT))
    stock_rows = []
    for p_index, product in enumerate(products):
        short_in = rng.randrange(len(warehouses)) if p_index in short else None
        for w_index, warehouse in enumerate(warehouses):
            if product.list_price >= 2000:
                on_hand = rng.randint(30, 150)
            elif product.list_price >= 500:
                on_hand = rng.randint(80, 400)
            else:
                on_hand = rng.randint(300, 1500)
            if w_index == short_in:
                on_hand = rng.randint(0, 3)
            stock_rows.append(
                StockLevel(product=product, warehouse=warehouse, on_hand=on_hand, updated_at=now)
            )
    stock_rows = StockLevel.objects.bulk_create(stock_rows)
    stock = {}
    p_index_of = {p.pk: i for i, p in enumerate(products)}
    w_index_of = {w.pk: i for i, w in enumerate(warehouses)}
    for level in stock_rows:
        stock[(p_index_of[level.product_id], w_index_of[level.warehouse_id])] = level

    partner_cum = [share for _c, _n, share in PARTNERS]
    customer_rows, weights, addresses = [], [], []
    for i in range(1, customers + 1):
        tier = rng.choices([t for t, _ in TIERS], weights=[w for _, w in TIERS])[0]
        rating = rng.choices(
            [Customer.CreditRating.GOOD, Customer.CreditRating.FAIR, Customer.CreditRating.POOR],
            weights=[0.85, 0.10, 0.05],
        )[0]
        is_new = rng.random() < 0.08
        completed = 0 if is_new else max(1, int(rng.lognormvariate(2.5, 1.0)))
        if tier in (Customer.Tier.GOLD, Customer.Tier.VIP):
            completed += rng.randint(20, 80)
        pay_range, receipt_range = {
            Customer.CreditRating.GOOD: ((0.93, 1.0), (0.92, 1.0)),
            Customer.CreditRating.FAIR: ((0.80, 0.93), (0.85, 0.95)),
            Customer.CreditRating.POOR: ((0.55, 0.80), (0.70, 0.90)),
        }[rating]
        limit = CREDIT_LIMITS[tier] if rating != Customer.CreditRating.POOR else Decimal("0.00")
        name = _customer_name(rng)
        customer_rows.append(
            Customer(
                partner=partners[rng.choices(range(len(partners)), weights=partner_cum)[0]],
                ref=f"C{i:04d}",
                name=name,
                phone=_phone(rng),
                tier=tier,
                credit_rating=rating,
                credit_limit=limit,
                orders_completed=completed,
                on_time_payment_rate=None if is_new else _rate(rng, *pay_range),
                on_time_receipt_rate=None if is_new else _rate(rng, *receipt_range),
                crm_synced_at=now - timedelta(hours=rng.uniform(0.5, 48)),
            )
        )
        weights.append(
            rng.lognormvariate(0, 0.9)
            * {"standard": 1.0, "silver": 1.3, "gold": 1.8, "vip": 2.5}[tier]
            * (0.5 if is_new else 1.0)
        )
        addresses.append(rng.choice(ADDRESSES))
    customer_objs = Customer.objects.bulk_create(customer_rows, batch_size=500)

    coupons = Coupon.objects.bulk_create(
        [
            Coupon(
                code="STORE-ANNIV-30",
                name="店庆满减 满299减30",
                discount_amount=Decimal("30.00"),
                campaign_starts_at=now - timedelta(days=20),
                campaign_ends_at=now + timedelta(days=10),
            ),
            Coupon(
                code="NEWBIE-20",
                name="新人专享券",
                discount_amount=Decimal("20.00"),
                campaign_starts_at=now - timedelta(days=400),
                campaign_ends_at=now + timedelta(days=365),
                new_customers_only=True,
            ),
            Coupon(
                code="MEMBER-DAY-100",
                name="会员日 金卡/VIP 满1000减100",
                discount_amount=Decimal("100.00"),
                campaign_starts_at=now - timedelta(days=45),
                campaign_ends_at=now + timedelta(days=15),
                eligible_tiers="gold,vip",
            ),
            Coupon(
                code="FLASH-200",
                name="限量秒杀券 满1999减200",
                discount_amount=Decimal("200.00"),
                campaign_starts_at=now - timedelta(days=9),
                campaign_ends_at=now + timedelta(days=2),
                is_limited_quantity=True,
                quantity_total=500,
            ),
        ]
    )

    return Catalog(
        users=users,
        partners=partners,
        customers=customer_objs,
        customer_weights=weights,
        addresses=addresses,
        products=products,
        product_weights=product_weights,
        warehouses=warehouses,
        stock=stock,
        coupons=coupons,
    )
