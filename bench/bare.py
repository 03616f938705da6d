"""The intake benchmark's baseline: a bare DRF create view of the same order table.

A `ModelSerializer` for Order with its lines nested (created with one bulk insert),
behind a `CreateAPIView` with no authentication, throttle, idempotency, state
machine, timeline, audit or routing: what any JSON endpoint writing an order and
its lines costs on this stack (Django, DRF, PostgreSQL). Mounted only by the
benchmarks' own URLconf (bench.urls), never by the application's.
"""

from __future__ import annotations

import os

from django.db import transaction
from rest_framework import generics, permissions, serializers
from rest_framework.response import Response

from orders.models import Order, OrderLine, order_number_new


class BareLineSerializer(serializers.ModelSerializer):
    class Meta:
        model = OrderLine
        fields = ("product", "sku", "name", "quantity", "list_price", "unit_price")


class BareOrderSerializer(serializers.ModelSerializer):
    lines = BareLineSerializer(many=True)

    class Meta:
        model = Order
        fields = (
            "id",
            "number",
            "external_ref",
            "partner",
            "source",
            "customer",
            "status",
            "payment_method",
            "payment_status",
            "goods_amount",
            "total_amount",
            "amount_paid",
            "ship_name",
            "ship_phone",
            "ship_province",
            "ship_city",
            "ship_district",
            "ship_line1",
            "ship_postal_code",
            "notes",
            "placed_at",
            "created_at",
            "lines",
        )
        read_only_fields = ("id", "number", "status", "created_at")

    def create(self, validated_data):
        lines = validated_data.pop("lines")
        with transaction.atomic():
            order = Order.objects.create(number=order_number_new(), **validated_data)
            OrderLine.objects.bulk_create([OrderLine(order=order, **line) for line in lines])
        return order


class BareOrderCreate(generics.CreateAPIView):
    """`POST /bench/bare-orders/`: the baseline of the intake benchmark.

    `GET` answers which server process it reached: the load generator spreads its
    keep-alive connections evenly over gunicorn's workers with it.
    """

    authentication_classes = []
    permission_classes = [permissions.AllowAny]
    throttle_classes = []
    serializer_class = BareOrderSerializer
    queryset = Order.objects.all()

    def get(self, request, *args, **kwargs):
        return Response({"worker": os.getpid()})
