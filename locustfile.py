"""Load-test your own installation of the order back-office through the partner API.

Every simulated partner system mostly posts new orders (`POST /api/v1/orders/`, each
with its own Idempotency-Key and external_ref), now and then retries one it already
sent (the same key and body: the answer must be the first one, replayed, with the
same order number), and reads orders back (one order, the order list).

It creates real orders: run it against a test installation or with a test partner.

    pip install -e ".[load]"          # locust 2.47.0 (the project's optional "load" extra)
    python manage.py create_partner "Load test"      # prints an API key
    export BACKOFFICE_API_KEY=<that key>
    export BACKOFFICE_SKUS=SKU-0001,SKU-0002         # active SKUs of your catalogue
    locust -f locustfile.py --host http://127.0.0.1:8000 --headless -u 20 -r 5 -t 1m

Requests are throttled per API key (the server's API_THROTTLE_RATE, 1200/min by
default): 429 answers are reported as failures named "throttled"; raise the rate on
the server for the test, or use fewer users. Optional: BACKOFFICE_WAIT="1,2"
(seconds between one user's requests, min,max).
"""

from __future__ import annotations

import logging
import os
import random
import uuid
from collections import deque

from locust import HttpUser, between, events, task

ORDERS_PATH = "/api/v1/orders/"
REPLAY_SHARE = 0.1  # of the posting tasks, how many resend an earlier order
RECENT = 50  # orders each user remembers, for replays and reads


def _settings() -> tuple[str, list[str], tuple[float, float]]:
    key = os.environ.get("BACKOFFICE_API_KEY", "").strip()
    skus = [s.strip() for s in os.environ.get("BACKOFFICE_SKUS", "").split(",") if s.strip()]
    low, _, high = os.environ.get("BACKOFFICE_WAIT", "1,2").partition(",")
    return key, skus, (float(low), float(high or low))


API_KEY, SKUS, WAIT = _settings()


@events.init.add_listener
def _check_settings(environment, **_kwargs):
    missing = [
        name
        for name, value in (("BACKOFFICE_API_KEY", API_KEY), ("BACKOFFICE_SKUS", SKUS))
        if not value
    ]
    if missing:
        logging.error(
            "Set %s (see the docstring of locustfile.py): nothing to test without them.",
            " and ".join(missing),
        )
        environment.process_exit_code = 2
        if environment.runner is not None:
            environment.runner.quit()


def _order_body() -> dict:
    customer = random.randrange(500)
    name = f"Load Test {customer}"
    phone = f"139{customer:08d}"
    paid = random.random() < 0.8
    return {
        "external_ref": f"LOAD-{uuid.uuid4().hex[:24]}",
        "customer": {"ref": f"LOAD-C{customer:04d}", "name": name, "phone": phone},
        "payment_method": "prepaid" if paid else random.choice(["cod", "transfer"]),
        "paid": paid,
        "coupon_code": None,
        "shipping_address": {
            "name": name,
            "phone": phone,
            "province": "Zhejiang",
            "city": "Hangzhou",
            "district": "Xihu",
            "line1": f"{random.randint(1, 999)} Wensan Rd",
        },
        "lines": [
            {"sku": sku, "quantity": random.randint(1, 3)}
            for sku in random.sample(SKUS, k=min(len(SKUS), random.randint(1, 3)))
        ],
        "notes": "locust load test",
    }


class PartnerSystem(HttpUser):
    """A partner's shop system pushing orders and following them."""

    wait_time = between(*WAIT)

    def on_start(self):
        self.client.headers.update({"X-Api-Key": API_KEY, "Accept": "application/json"})
        self.sent: deque[tuple[str, dict, str]] = deque(maxlen=RECENT)  # key, body, number

    def _post(self, key: str, body: dict, *, replay_of: str | None = None) -> None:
        name = f"POST {ORDERS_PATH}" + (" [replay]" if replay_of else "")
        with self.client.post(
            ORDERS_PATH,
            json=body,
            headers={"Idempotency-Key": key},
            name=name,
            catch_response=True,
        ) as response:
            if response.status_code == 429:
                response.failure("throttled (429): raise API_THROTTLE_RATE or use fewer users")
                return
            if response.status_code != 201:
                response.failure(f"{response.status_code}: {response.text[:300]}")
                return
            number = (response.json() or {}).get("number")
            if not number:
                response.failure("201 without an order number")
            elif replay_of is None:
                self.sent.append((key, body, number))
            elif number != replay_of:
                response.failure(f"replay made a second order: {number} != {replay_of}")
            elif response.headers.get("Idempotent-Replayed") != "true":
                response.failure("replay answered without Idempotent-Replayed: true")

    @task(10)
    def post_order(self):
        if self.sent and random.random() < REPLAY_SHARE:
            # A retry, as after a timeout: the same key and body, the same answer.
            key, body, number = random.choice(self.sent)
            self._post(key, body, replay_of=number)
        else:
            self._post(uuid.uuid4().hex, _order_body())

    @task(3)
    def read_orders(self):
        if self.sent:
            _, _, number = random.choice(self.sent)
            with self.client.get(
                f"{ORDERS_PATH}{number}/", name=f"GET {ORDERS_PATH}[number]/", catch_response=True
            ) as response:
                if response.status_code == 429:
                    response.failure("throttled (429)")
                elif response.status_code != 200:
                    response.failure(f"{response.status_code}: {response.text[:300]}")
        with self.client.get(
            ORDERS_PATH, params={"page_size": 20}, name=f"GET {ORDERS_PATH}", catch_response=True
        ) as response:
            if response.status_code == 429:
                response.failure("throttled (429)")
            elif response.status_code != 200:
                response.failure(f"{response.status_code}: {response.text[:300]}")
