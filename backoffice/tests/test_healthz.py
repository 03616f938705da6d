"""/healthz: 200 only when the database answers and the qcluster heartbeat is recent."""

from datetime import timedelta

import pytest
import time_machine
from django.db import OperationalError
from django.urls import reverse
from django.utils import timezone

from backoffice import views
from backoffice.models import Heartbeat
from backoffice.tasks import QCLUSTER_HEARTBEAT, heartbeat

pytestmark = pytest.mark.django_db

MAX_AGE = 180


@pytest.fixture(autouse=True)
def max_age(settings):
    settings.HEARTBEAT_MAX_AGE = MAX_AGE
    return MAX_AGE


def healthz(client):
    response = client.get(reverse("healthz"))
    assert response["Content-Type"] == "application/json"
    return response.status_code, response.json()


def test_without_any_heartbeat_it_reports_503_naming_the_qcluster(client):
    assert healthz(client) == (
        503,
        {"status": "fail", "checks": {"database": "ok", "qcluster": "no heartbeat yet"}},
    )


def test_right_after_a_heartbeat_it_reports_200(client):
    heartbeat()
    assert Heartbeat.objects.get().name == QCLUSTER_HEARTBEAT
    assert healthz(client) == (
        200,
        {
            "status": "ok",
            "checks": {"database": "ok", "qcluster_heartbeat_age_seconds": 0, "qcluster": "ok"},
        },
    )


def test_a_heartbeat_exactly_max_age_old_still_counts(client):
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        heartbeat()
    with time_machine.travel(start + timedelta(seconds=MAX_AGE), tick=False):
        status, body = healthz(client)
    assert status == 200
    assert body["checks"]["qcluster_heartbeat_age_seconds"] == MAX_AGE


def test_a_stale_heartbeat_reports_503_with_its_age(client):
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        heartbeat()
    with time_machine.travel(start + timedelta(seconds=MAX_AGE + 1), tick=False):
        assert healthz(client) == (
            503,
            {
                "status": "fail",
                "checks": {
                    "database": "ok",
                    "qcluster_heartbeat_age_seconds": MAX_AGE + 1,
                    "qcluster": "stale",
                },
            },
        )


def test_a_new_heartbeat_makes_it_healthy_again(client):
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        heartbeat()
    with time_machine.travel(start + timedelta(hours=1), tick=False):
        assert healthz(client)[0] == 503
        heartbeat()  # the qcluster came back: the same row is refreshed
        assert healthz(client)[0] == 200
    assert Heartbeat.objects.count() == 1


def test_a_database_failure_reports_503_naming_the_database(client, monkeypatch):
    class BrokenConnection:
        def cursor(self):
            raise OperationalError("connection refused")

    monkeypatch.setattr(views, "connection", BrokenConnection())
    assert healthz(client) == (
        503,
        {"status": "fail", "checks": {"database": "error: OperationalError"}},
    )


def test_it_needs_no_login_is_never_cached_and_only_answers_get(client):
    heartbeat()
    response = client.get(reverse("healthz"))
    assert response.status_code == 200  # anonymous: load balancers do not log in
    assert "no-cache" in response["Cache-Control"]
    assert client.post(reverse("healthz")).status_code == 405
