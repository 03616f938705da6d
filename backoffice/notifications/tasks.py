"""django-q2 jobs of the notification outbox: they take ids and call a service.

Both are idempotent (the ORM broker may run a task twice, STYLE.md): a message is
claimed before it is sent, and one that is not pending and due is left alone.
"""

from __future__ import annotations

from backoffice.notifications import delivery


def message_deliver(message_id: int) -> str:
    message = delivery.message_deliver(message_id=message_id)
    return message.status if message is not None else "skipped"


def messages_sweep() -> int:
    return delivery.messages_sweep()
