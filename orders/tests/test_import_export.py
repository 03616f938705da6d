"""Admin import/export (django-import-export) through the real admin URLs.

Imports preview first (dry run), commit only on confirmation, commit the whole file
or nothing, and never answer a malformed file with a 500. Orders are export-only.
"""

from __future__ import annotations

import io
from decimal import Decimal

import openpyxl
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import NoReverseMatch, reverse

from backoffice.audit.models import AuditEvent
from orders import teams
from orders.events import IMPORT_COMPLETED
from orders.models import Customer, Product, StockLevel
from orders.resources import OrderResource
from orders.tests.factories import (
    CustomerFactory,
    PartnerFactory,
    ProductFactory,
    make_order,
)

pytestmark = pytest.mark.django_db

CSV = "0"  # index of the format in the admin's [CSV, XLSX]
XLSX = "1"

CUSTOMER_HEADER = "partner,ref,name,tier,credit_rating,credit_limit,orders_completed\n"


def _csv(text: str) -> bytes:
    return text.encode("utf-8")


def _xlsx(rows: list[list]) -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def upload(client, model: str, content: bytes, *, name="data.csv", file_format=CSV):
    """Step 1: the import form; the response is the dry-run preview (or the errors)."""
    return client.post(
        reverse(f"admin:orders_{model}_import"),
        {"import_file": SimpleUploadedFile(name, content), "format": file_format, "resource": "0"},
    )


def confirm(client, model: str, preview):
    """Step 2: the 'Confirm import' button of the preview."""
    data = dict(preview.context["confirm_form"].initial)
    return client.post(reverse(f"admin:orders_{model}_process_import"), data)


def invalid_rows(response) -> dict[int, dict]:
    result = response.context["result"]
    return {row.number: row.error_dict for row in result.invalid_rows}


def import_events():
    return AuditEvent.objects.filter(verb=IMPORT_COMPLETED)


@pytest.fixture
def superuser(admin_user, client):
    client.force_login(admin_user)
    return admin_user


# --- Customers: preview, confirm, audit -------------------------------------------


def test_customer_import_previews_without_writing_then_commits_on_confirm(client, superuser):
    tmall = PartnerFactory(code="tmall")
    existing = CustomerFactory(partner=tmall, ref="T-1", credit_limit=Decimal("100.00"))
    before = Customer.objects.count()
    content = _csv(
        CUSTOMER_HEADER
        + "tmall,T-1,Old Friend,gold,good,500.00,4\n"
        + ",D-1,New Direct Buyer,standard,fair,0,0\n"
    )

    preview = upload(client, "customer", content, name="crm-export.csv")

    assert preview.status_code == 200
    assert preview.context["confirm_form"] is not None
    assert "Preview" in preview.content.decode()
    assert preview.context["result"].totals["new"] == 1
    assert preview.context["result"].totals["update"] == 1
    # The dry run wrote nothing.
    assert Customer.objects.count() == before
    existing.refresh_from_db()
    assert existing.credit_limit == Decimal("100.00")
    assert not import_events().exists()

    response = confirm(client, "customer", preview)

    assert response.status_code == 302
    assert response["Location"] == reverse("admin:orders_customer_changelist")
    assert Customer.objects.count() == before + 1
    existing.refresh_from_db()
    assert (existing.name, existing.tier, existing.credit_limit) == (
        "Old Friend",
        "gold",
        Decimal("500.00"),
    )
    direct = Customer.objects.get(partner=None, ref="D-1")
    assert direct.credit_rating == "fair"
    event = import_events().get()
    assert event.actor == superuser
    assert event.payload == {
        "model": "orders.customer",
        "file_name": "crm-export.csv",
        "rows": 2,
        "new": 1,
        "updated": 1,
        "skipped": 0,
    }


def test_reimporting_an_exported_customer_file_changes_nothing(client, superuser):
    CustomerFactory(partner=PartnerFactory(code="jd"), ref="J-1", name="Zhang Wei")
    CustomerFactory(ref="D-9", name="Li Na", email="li@example.com")
    fields = ["partner", "ref", "name", "phone", "email", "tier", "credit_rating"]
    fields += ["credit_limit", "orders_completed", "on_time_payment_rate"]
    fields += ["on_time_receipt_rate", "crm_synced_at"]
    exported = client.post(
        reverse("admin:orders_customer_export"),
        {"format": CSV, "resource": "0", **{f"customerresource_{f}": "on" for f in fields}},
    )
    assert exported.status_code == 200

    preview = upload(client, "customer", exported.content)

    assert preview.status_code == 200
    assert preview.context["result"].totals["skip"] == 2
    assert preview.context["confirm_form"] is not None


# --- Malformed files: per-row errors, nothing committed, never a 500 --------------


def test_a_bad_row_refuses_the_whole_customer_file_with_row_numbers(client, superuser):
    CustomerFactory(ref="D-1", credit_limit=Decimal("100.00"))
    before = list(Customer.objects.values_list("ref", "name", "credit_limit"))
    content = _csv(
        CUSTOMER_HEADER
        + ",D-1,Good Update,standard,good,250.00,1\n"
        + ",D-2,Bad Number,standard,good,12x.5,0\n"
        + ",D-3,,standard,good,10,0\n"
        + ",D-4,Good New,standard,good,10,0\n"
    )

    preview = upload(client, "customer", content)

    assert preview.status_code == 200
    assert preview.context.get("confirm_form") is None
    errors = invalid_rows(preview)
    assert set(errors) == {2, 3}
    assert errors[2]["credit_limit"] == ["“12x.5” is not a number."]
    assert errors[3]["name"] == ["This field is required."]
    html = preview.content.decode()
    assert "Some rows failed to validate" in html
    assert "is not a number." in html
    assert list(Customer.objects.values_list("ref", "name", "credit_limit")) == before
    assert not import_events().exists()


def test_an_unknown_warehouse_code_refuses_the_whole_stock_file(client, superuser, stocked_product):
    before = list(StockLevel.objects.order_by("pk").values_list("pk", "on_hand", "reserved"))
    content = _csv(
        "product,warehouse,on_hand\n"
        "SKU-STOCKED,hz,50\n"
        "SKU-STOCKED,nowhere,50\n"
        "NO-SUCH-SKU,sh,50\n"
        "SKU-STOCKED,sh,abc\n"
    )

    preview = upload(client, "stocklevel", content)

    assert preview.status_code == 200
    assert preview.context.get("confirm_form") is None
    errors = invalid_rows(preview)
    assert errors[2] == {"warehouse": ["No warehouse with code “nowhere”."]}
    assert errors[3] == {"product": ["No product with SKU “NO-SUCH-SKU”."]}
    assert errors[4] == {"on_hand": ["“abc” is not a number."]}
    assert 1 not in errors
    assert (
        list(StockLevel.objects.order_by("pk").values_list("pk", "on_hand", "reserved")) == before
    )


@pytest.mark.parametrize(
    ("content", "name", "file_format", "message"),
    [
        pytest.param(
            (CUSTOMER_HEADER + ",D-1,张伟,standard,good,1,0\n").encode("gbk"),
            "gbk.csv",
            CSV,
            "The file is not UTF-8 text.",
            id="not-utf-8",
        ),
        pytest.param(
            bytes(range(256)) * 8, "garbage.csv", CSV, "The file is not UTF-8 text.", id="binary"
        ),
        pytest.param(
            b"PK\x03\x04 this is no workbook",
            "garbage.xlsx",
            XLSX,
            "The file could not be read.",
            id="garbage-xlsx",
        ),
        pytest.param(b"", "empty.csv", CSV, "The submitted file is empty.", id="empty"),
        pytest.param(
            _csv(CUSTOMER_HEADER), "header-only.csv", CSV, "No valid data to import", id="header"
        ),
    ],
)
def test_unreadable_files_are_refused_with_a_message(
    client, superuser, content, name, file_format, message
):
    before = Customer.objects.count()

    response = upload(client, "customer", content, name=name, file_format=file_format)

    assert response.status_code == 200
    assert message in response.content.decode()
    assert response.context.get("confirm_form") is None
    assert Customer.objects.count() == before


def test_a_file_for_another_model_is_refused_naming_the_missing_columns(client, superuser):
    before = Customer.objects.count()
    content = _csv("sku,name,list_price\nSKU-1,Kettle,99.00\n")

    response = upload(client, "customer", content)

    assert response.status_code == 200
    html = response.content.decode()
    assert "The file lacks the column(s) partner, ref." in html
    assert "Traceback" not in html
    assert response.context.get("confirm_form") is None
    assert Customer.objects.count() == before


def test_products_import_from_an_excel_workbook(client, superuser):
    ProductFactory(sku="SKU-OLD", list_price=Decimal("10.00"))
    content = _xlsx(
        [
            ["sku", "name", "list_price", "is_presale", "is_active"],
            ["SKU-OLD", "Kettle", 12.5, 0, 1],
            [1001, "Numeric SKU", 0.1, 1, 1],
            [None, None, None, None, None],  # a blank line Excel leaves behind
        ]
    )

    preview = upload(client, "product", content, name="products.xlsx", file_format=XLSX)
    assert preview.context["confirm_form"] is not None, invalid_rows(preview)
    confirm(client, "product", preview)

    assert Product.objects.get(sku="SKU-OLD").list_price == Decimal("12.50")
    numeric = Product.objects.get(sku="1001")
    assert (numeric.list_price, numeric.is_presale) == (Decimal("0.10"), True)


def test_stray_spaces_in_headers_and_cells_are_ignored(client, superuser):
    content = _csv(" sku , name ,list_price\n  SKU-SPACED , Teapot , 30 \n")

    preview = upload(client, "product", content)
    confirm(client, "product", preview)

    assert Product.objects.get(sku="SKU-SPACED").name == "Teapot"


# --- Stock: on hand only ----------------------------------------------------------


def test_stock_import_sets_on_hand_and_never_reserved(client, superuser, stocked_product):
    level = StockLevel.objects.get(product=stocked_product, warehouse__code="hz")
    StockLevel.objects.filter(pk=level.pk).update(reserved=5)
    content = _csv("product,warehouse,on_hand,reserved\nSKU-STOCKED,hz,40,0\n")

    preview = upload(client, "stocklevel", content)
    assert "reserved" not in preview.context["result"].diff_headers
    confirm(client, "stocklevel", preview)

    level.refresh_from_db()
    assert (level.on_hand, level.reserved) == (40, 5)


def test_stock_on_hand_below_reserved_is_a_row_error(client, superuser, stocked_product):
    StockLevel.objects.filter(warehouse__code="hz").update(reserved=5)
    content = _csv("product,warehouse,on_hand\nSKU-STOCKED,sh,20\nSKU-STOCKED,hz,3\n")

    preview = upload(client, "stocklevel", content)

    assert preview.context.get("confirm_form") is None
    assert invalid_rows(preview) == {
        2: {"on_hand": ["On hand (3) cannot be below the units reserved for open orders (5)."]}
    }
    assert list(StockLevel.objects.values_list("on_hand", flat=True)) == [10, 10]


def test_negative_on_hand_is_a_row_error(client, superuser, stocked_product):
    preview = upload(client, "stocklevel", _csv("product,warehouse,on_hand\nSKU-STOCKED,sh,-1\n"))

    assert preview.context.get("confirm_form") is None
    assert list(invalid_rows(preview)) == [1]


def test_confirm_commits_nothing_when_a_row_became_invalid_after_the_preview(
    client, superuser, stocked_product
):
    content = _csv("product,warehouse,on_hand\nSKU-STOCKED,sh,30\nSKU-STOCKED,hz,3\n")
    preview = upload(client, "stocklevel", content)
    assert preview.context["confirm_form"] is not None
    # Meanwhile an order reserves 5 units in Hangzhou.
    StockLevel.objects.filter(warehouse__code="hz").update(reserved=5)

    response = confirm(client, "stocklevel", preview)

    assert response.status_code == 200
    assert "Nothing was imported" in response.content.decode()
    assert list(invalid_rows(response)) == [2]
    assert sorted(StockLevel.objects.values_list("on_hand", flat=True)) == [10, 10]
    assert not import_events().exists()


def test_confirming_the_same_file_twice_imports_it_once(client, superuser, stocked_product):
    preview = upload(client, "stocklevel", _csv("product,warehouse,on_hand\nSKU-STOCKED,sh,30\n"))
    assert confirm(client, "stocklevel", preview).status_code == 302

    again = confirm(client, "stocklevel", preview)

    assert again.status_code == 302
    assert again["Location"] == reverse("admin:orders_stocklevel_import")
    assert import_events().count() == 1


# --- Permissions ------------------------------------------------------------------


def test_a_user_without_change_permission_cannot_import(client, sales_clerk):
    client.force_login(sales_clerk)  # may view customers, not change them
    before = Customer.objects.count()

    changelist = client.get(reverse("admin:orders_customer_changelist"))
    get_form = client.get(reverse("admin:orders_customer_import"))
    post_file = upload(client, "customer", _csv(CUSTOMER_HEADER + ",D-1,X,standard,good,1,0\n"))
    post_confirm = client.post(
        reverse("admin:orders_customer_process_import"),
        {"import_file_name": "x", "original_file_name": "x.csv", "format": CSV},
    )

    assert changelist.status_code == 200
    assert "import_link" not in changelist.content.decode()
    assert "export_link" in changelist.content.decode()  # view permission suffices
    assert (get_form.status_code, post_file.status_code, post_confirm.status_code) == (
        403,
        403,
        403,
    )
    assert Customer.objects.count() == before


def test_a_user_without_view_permission_cannot_export(client, outsider):
    client.force_login(outsider)

    assert client.get(reverse("admin:orders_order_export")).status_code == 403
    assert client.get(reverse("admin:orders_customer_export")).status_code == 403


def test_warehouse_clerk_may_update_stock_but_not_add_stock_rows(
    client, warehouse_clerk, stocked_product
):
    client.force_login(warehouse_clerk)  # change_stocklevel, no add_stocklevel
    other = ProductFactory(sku="SKU-OTHER")

    refused = upload(
        client,
        "stocklevel",
        _csv("product,warehouse,on_hand\nSKU-STOCKED,hz,25\nSKU-OTHER,hz,5\n"),
    )
    assert refused.context.get("confirm_form") is None
    assert invalid_rows(refused) == {
        2: {"__all__": ["This row would add a new stock level; you may only update existing ones."]}
    }
    assert not StockLevel.objects.filter(product=other).exists()

    preview = upload(client, "stocklevel", _csv("product,warehouse,on_hand\nSKU-STOCKED,hz,25\n"))
    assert confirm(client, "stocklevel", preview).status_code == 302
    assert StockLevel.objects.get(product=stocked_product, warehouse__code="hz").on_hand == 25
    assert import_events().get().actor == warehouse_clerk


# --- Orders: export only ----------------------------------------------------------

ORDER_FIELDS = list(OrderResource().get_export_order())


def _export_orders(client, file_format):
    return client.post(
        reverse("admin:orders_order_export"),
        {
            "format": file_format,
            "resource": "0",
            **{f"orderresource_{name}": "on" for name in ORDER_FIELDS},
        },
    )


def test_order_export_as_csv_lists_the_orders_with_their_stage(client, superuser):
    orders = [make_order(), make_order()]

    response = _export_orders(client, CSV)

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    text = response.content.decode("utf-8-sig")
    lines = text.splitlines()
    assert lines[0].split(",") == ORDER_FIELDS
    for order in orders:
        order.refresh_from_db()
        row = next(line for line in lines if line.startswith(order.number))
        assert f",{order.status},{order.get_status_display()}," in row
        assert order.customer.ref in row


def test_order_export_as_xlsx_lists_the_orders_with_their_stage(client, superuser):
    order = make_order()
    order.refresh_from_db()

    response = _export_orders(client, XLSX)

    assert response.status_code == 200
    sheet = openpyxl.load_workbook(io.BytesIO(response.content)).active
    rows = list(sheet.iter_rows(values_only=True))
    assert list(rows[0]) == ORDER_FIELDS
    exported = dict(zip(ORDER_FIELDS, rows[1], strict=True))
    assert exported["number"] == order.number
    assert exported["status"] == order.status
    assert exported["status_display"] == order.get_status_display()
    assert Decimal(str(exported["total_amount"])) == order.total_amount


def test_the_order_list_offers_export_but_no_import(client, superuser):
    make_order()

    response = client.get(reverse("admin:orders_order_changelist"))

    assert response.status_code == 200
    html = response.content.decode()
    assert "export_link" in html
    assert "import_link" not in html
    with pytest.raises(NoReverseMatch):
        reverse("admin:orders_order_import")
    with pytest.raises(NoReverseMatch):
        reverse("admin:orders_order_process_import")
    with pytest.raises(NotImplementedError):
        OrderResource().import_data(None)
    assert client.get(reverse("admin:orders_order_export")).status_code == 200


def test_catalogue_lists_offer_import_and_export(client, superuser):
    for model in ("customer", "product", "warehouse", "stocklevel"):
        html = client.get(reverse(f"admin:orders_{model}_changelist")).content.decode()
        assert "import_link" in html and "export_link" in html, model
        assert client.get(reverse(f"admin:orders_{model}_import")).status_code == 200


def test_supervisors_may_import_customers(client, supervisor):
    # The Supervisors team holds add/change on customers: the import is theirs.
    assert supervisor.groups.filter(name=teams.SUPERVISORS).exists()
    assert supervisor.has_perm("orders.change_customer")
    client.force_login(supervisor)

    preview = upload(client, "customer", _csv(CUSTOMER_HEADER + ",D-7,Wang,vip,good,9,0\n"))
    confirm(client, "customer", preview)

    assert Customer.objects.filter(ref="D-7", tier="vip").exists()
