"""Hooks other apps subscribe to (orders imports none of them).

Sent after the transaction commits, so receivers may queue tasks, send webhooks
or notify people without ever announcing a change that was rolled back.
"""

from django.dispatch import Signal

# kwargs: order, source (state before), target (state after), via, actor
order_status_changed = Signal()
# kwargs: order
order_created = Signal()
# kwargs: order, payment
payment_recorded = Signal()
# kwargs: order, by (the QC photo was uploaded, possibly after an urgent dispatch)
qc_photo_uploaded = Signal()
# kwargs: order, changes ({field: [before, after]}), by (address, invoice or notes edited)
order_details_changed = Signal()
# kwargs: order, user, stage, at (an order handed to a person: a sign of staff activity)
order_claimed = Signal()
