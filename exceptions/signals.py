"""Receivers of orders' signals (sent after commit): run the detectors."""

from django.dispatch import receiver

from orders.signals import (
    order_created,
    order_details_changed,
    order_status_changed,
    payment_recorded,
)


@receiver(order_created, dispatch_uid="exceptions.detect_on_intake")
def _order_created(sender, order, **kwargs):
    from exceptions.detectors import detect_on_intake

    detect_on_intake(order)


@receiver(payment_recorded, dispatch_uid="exceptions.detect_on_payment")
def _payment_recorded(sender, order, **kwargs):
    from exceptions.detectors import detect_on_payment

    detect_on_payment(order)


@receiver(order_details_changed, dispatch_uid="exceptions.detect_on_details")
def _details_changed(sender, order, changes, **kwargs):
    from exceptions.detectors import detect_details_change

    detect_details_change(order, changes)


@receiver(order_status_changed, dispatch_uid="exceptions.close_on_cancel")
def _status_changed(sender, order, target, **kwargs):
    if target != "cancelled":
        return
    from exceptions.services.cases import cases_close_for_cancelled

    cases_close_for_cancelled(order)
