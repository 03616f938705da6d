"""Import/export of exception types through the admin (django-import-export): the
export lists the demo types with stable columns; an import previews first, commits on
confirmation, and a file with a bad row commits nothing and says which row and why."""

from __future__ import annotations

import csv
import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from backoffice.audit.models import AuditEvent
from exceptions.demo import TYPES
from exceptions.models import ExceptionType
from exceptions.resources import ExceptionTypeResource
from orders.events import IMPORT_COMPLETED

pytestmark = pytest.mark.django_db

CSV = "0"
FIELDS = list(ExceptionTypeResource().get_export_order())
HEADER = "code,name_zh,name_en,tag_zh,tag_en,team,sla_minutes,blocks_dispatch,is_active\n"


@pytest.fixture(autouse=True)
def _types(exception_types):
    return exception_types


@pytest.fixture
def supervisor_client(client, supervisor):
    client.force_login(supervisor)
    return client


def export(client):
    return client.post(
        reverse("admin:exceptions_exceptiontype_export"),
        {"format": CSV, "resource": "0", **{f"exceptiontyperesource_{f}": "on" for f in FIELDS}},
    )


def upload(client, content: str, *, name="types.csv"):
    return client.post(
        reverse("admin:exceptions_exceptiontype_import"),
        {
            "import_file": SimpleUploadedFile(name, content.encode("utf-8")),
            "format": CSV,
            "resource": "0",
        },
    )


def confirm(client, preview):
    data = dict(preview.context["confirm_form"].initial)
    return client.post(reverse("admin:exceptions_exceptiontype_process_import"), data)


def invalid_rows(response) -> dict[int, dict]:
    return {row.number: row.error_dict for row in response.context["result"].invalid_rows}


def types_now():
    return list(ExceptionType.objects.order_by("code").values())


def test_the_export_lists_the_six_demo_types(supervisor_client):
    response = export(supervisor_client)

    assert response.status_code == 200
    rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert {row["code"] for row in rows} == set(TYPES)
    address = next(row for row in rows if row["code"] == "address_change")
    assert (address["tag_zh"], address["tag_en"]) == ("【改址】", "[Address change]")
    assert (address["team"], address["sla_minutes"]) == ("Customer service team", "30")
    assert address["blocks_dispatch"] == "1"


def test_reimporting_the_export_changes_nothing(supervisor_client):
    before = types_now()
    exported = export(supervisor_client).content.decode("utf-8-sig")

    preview = upload(supervisor_client, exported)

    assert preview.status_code == 200
    assert preview.context["confirm_form"] is not None
    assert preview.context["result"].totals["skip"] == len(TYPES)
    assert types_now() == before


def test_an_import_previews_then_commits_on_confirmation(supervisor_client, supervisor):
    content = (
        HEADER
        + "address_change,改址,Address change,【改址】,[Address change],"
        + "Customer service team,45,1,1\n"
        + "customs_hold,海关扣留,Customs hold,【海关】,[Customs],Finance team,90,1,1\n"
    )

    preview = upload(supervisor_client, content)

    assert preview.status_code == 200
    assert preview.context["result"].totals["new"] == 1
    assert preview.context["result"].totals["update"] == 1
    assert not ExceptionType.objects.filter(code="customs_hold").exists()

    response = confirm(supervisor_client, preview)

    assert response.status_code == 302
    assert ExceptionType.objects.get(code="address_change").sla_minutes == 45
    customs = ExceptionType.objects.get(code="customs_hold")
    assert (customs.team.name, customs.blocks_dispatch) == ("Finance team", True)
    event = AuditEvent.objects.get(verb=IMPORT_COMPLETED)
    assert event.actor == supervisor
    assert event.payload["model"] == "exceptions.exceptiontype"


def test_a_file_with_bad_rows_shows_each_error_and_commits_nothing(supervisor_client):
    before = types_now()
    content = (
        HEADER
        + "address_change,改址,Address change,【改址】,[Address change],"
        + "Customer service team,45,1,1\n"
        + "customs_hold,海关扣留,Customs hold,【海关】,[Customs],Nobody's team,90,1,1\n"
        + "gift_addition,加赠品,Gift added,【赠品】,[Gift],Customer service team,-5,1,1\n"
    )

    preview = upload(supervisor_client, content)

    assert preview.status_code == 200
    assert preview.context.get("confirm_form") is None
    errors = invalid_rows(preview)
    assert set(errors) == {2, 3}
    assert errors[2] == {"team": ["No group with name “Nobody's team”."]}
    assert errors[3] == {"sla_minutes": ["Ensure this value is greater than or equal to 0."]}
    html = preview.content.decode()
    assert "Some rows failed to validate" in html
    assert types_now() == before
    assert not AuditEvent.objects.filter(verb=IMPORT_COMPLETED).exists()


def test_a_file_without_the_code_column_is_refused_without_a_server_error(supervisor_client):
    response = upload(supervisor_client, "name_en,team\nX,Finance team\n")
    assert response.status_code == 200
    assert "The file lacks the column(s) code." in response.content.decode()
    assert ExceptionType.objects.count() == len(TYPES)


def test_only_people_who_may_change_types_may_import(client, service_agent):
    client.force_login(service_agent)
    assert client.get(reverse("admin:exceptions_exceptiontype_import")).status_code == 403
    response = upload(client, HEADER)
    assert response.status_code == 403
    # Viewing is enough to export.
    assert export(client).status_code == 200
