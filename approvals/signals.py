"""Receivers of orders' signals."""

from django.dispatch import receiver

from orders.signals import qc_photo_uploaded


@receiver(qc_photo_uploaded, dispatch_uid="approvals.obligation_fulfil")
def _qc_photo_uploaded(sender, order, by=None, **kwargs):
    from approvals.services.switches import obligations_fulfil

    obligations_fulfil(order, kind="qc_photo", by=by)
