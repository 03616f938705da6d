"""Simulated orders as table rows (dicts keyed by field attname), for any writer.

The demo writes them with `bulk_create`; the benchmarks stream the very same rows
into PostgreSQL with COPY. Audit rows match what `orders.events` writes.
"""

from __future__ import annotations

from orders.demo.catalog import Catalog
from orders.demo.story import CARRIERS, QC_PHOTO_NAME, OrderDraft, to_datetime
from orders.states import OrderStatus, Source, Via

S = OrderStatus
ORDER_CREATED = "order.created"
ORDER_TRANSITION = "order.transition"


def _dt(seconds):
    return None if seconds is None else to_datetime(seconds)


class RowBuilder:
    def __init__(self, catalog: Catalog, *, order_type_id: int, audit: bool = True):
        self.catalog = catalog
        self.users = catalog.users
        self.order_type_id = order_type_id
        self.audit = audit

    def order(self, d: OrderDraft) -> dict:
        customer = self.catalog.customers[d.customer]
        province, city, district, street, postal = self.catalog.addresses[d.customer]
        house = int(customer.phone[-4:]) % 300 + 1
        dispatched = d.dispatched_at is not None
        return {
            "number": d.number,
            "external_ref": d.external_ref,
            "partner_id": self.catalog.partners[d.partner].pk,
            "source": Source.DEMO,
            "customer_id": customer.pk,
            "status": d.status,
            "held_from": d.held_from,
            "stage_entered_at": _dt(d.stage_entered_at),
            "payment_method": d.payment_method,
            "payment_status": d.payment_status,
            "goods_amount": d.goods_amount,
            "discount_amount": d.discount_amount,
            "total_amount": d.total_amount,
            "amount_paid": d.amount_paid,
            "coupon_id": self.catalog.coupons[d.coupon].pk if d.coupon is not None else None,
            "coupon_verified_at": _dt(d.coupon_verified_at),
            "coupon_verified_via": Via.MANUAL if d.coupon_verified_at is not None else "",
            "is_presale": d.is_presale,
            "is_expedited": d.is_expedited,
            "ship_name": customer.name,
            "ship_phone": customer.phone,
            "ship_province": province,
            "ship_city": city,
            "ship_district": district,
            "ship_line1": f"{street}{house}号{house % 12 + 1}栋{house % 30 + 101}室",
            "ship_postal_code": postal,
            "invoice_title": d.invoice_title,
            "invoice_tax_id": d.invoice_tax_id,
            "notes": d.notes,
            "placed_at": _dt(d.placed_at),
            "created_at": _dt(d.created_at),
            "updated_at": _dt(d.updated_at),
            "pick_list_printed_at": _dt(d.pick_list_printed_at),
            "qc_photo": QC_PHOTO_NAME if d.qc_photo_at is not None else "",
            "qc_photo_at": _dt(d.qc_photo_at),
            "qc_photo_waived_at": None,
            "carrier": CARRIERS[d.carrier][0] if dispatched else "",
            "tracking_number": d.tracking_number if dispatched else "",
            "dispatched_at": _dt(d.dispatched_at),
            "cancelled_at": _dt(d.cancelled_at),
            "cancel_reason": d.cancel_reason,
            "version": 1,
        }

    def lines(self, d: OrderDraft, order_id: int) -> list[dict]:
        rows = []
        for line in d.lines:
            product = self.catalog.products[line.product]
            rows.append(
                {
                    "order_id": order_id,
                    "product_id": product.pk,
                    "sku": product.sku,
                    "name": product.name,
                    "quantity": line.quantity,
                    "list_price": product.list_price,
                    "unit_price": line.unit_price,
                    "is_customised": line.is_customised,
                    "is_split_shipment": line.is_split_shipment,
                }
            )
        return rows

    def reservations(self, d: OrderDraft, line_ids: list[int]) -> list[dict]:
        rows = []
        for line, line_id in zip(d.lines, line_ids, strict=True):
            for key, quantity, reserved_at, released_at, consumed_at in line.reservations:
                rows.append(
                    {
                        "line_id": line_id,
                        "stock_level_id": self.catalog.stock[key].pk,
                        "quantity": quantity,
                        "reserved_at": _dt(reserved_at),
                        "released_at": _dt(released_at),
                        "consumed_at": _dt(consumed_at),
                    }
                )
        return rows

    def visits(self, d: OrderDraft, order_id: int) -> list[dict]:
        users = self.users
        return [
            {
                "order_id": order_id,
                "stage": v.stage,
                "entered_at": _dt(v.entered_at),
                "left_at": _dt(v.left_at),
                "actor_id": users[v.actor] if v.actor else None,
                "via": v.via,
                "reason": v.reason,
                "detail": {},
            }
            for v in d.visits
        ]

    def payments(self, d: OrderDraft, order_id: int) -> list[dict]:
        return [
            {
                "order_id": order_id,
                "amount": amount,
                "reference": reference,
                "paid_at": _dt(paid_at),
                "recorded_by_id": self.users[by] if by else None,
                # Prepaid money is recorded by intake; later payments when they come in.
                "created_at": _dt(max(paid_at, d.created_at)),
            }
            for amount, reference, paid_at, by in d.payments
        ]

    def audit_events(self, d: OrderDraft, order_id: int) -> list[dict]:
        if not self.audit:
            return []
        partner = self.catalog.partners[d.partner]
        subject = {
            "subject_type_id": self.order_type_id,
            "subject_id": str(order_id),
            "subject_label": d.number,
        }
        rows = [
            {
                "at": _dt(d.created_at),
                "actor_id": None,
                "actor_label": f"partner:{partner.code}",
                "verb": ORDER_CREATED,
                "reason": "",
                "payload": {
                    "via": Via.API,
                    "source": Source.DEMO,
                    "external_ref": d.external_ref,
                    "total_amount": str(d.total_amount),
                    "payment_method": d.payment_method,
                },
                **subject,
            }
        ]
        for v in d.visits:
            if v.left_at is None:
                continue
            rows.append(
                {
                    "at": _dt(v.left_at),
                    "actor_id": self.users[v.actor] if v.actor else None,
                    "actor_label": "" if v.actor else "system",
                    "verb": ORDER_TRANSITION,
                    "reason": v.reason,
                    "payload": {
                        "from": v.stage,
                        "to": v.target,
                        "transition": v.transition,
                        "via": v.via,
                    },
                    **subject,
                }
            )
        return rows
