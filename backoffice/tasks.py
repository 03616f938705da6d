"""Infrastructure jobs run by django-q2."""

from backoffice.services import heartbeat_record

QCLUSTER_HEARTBEAT = "qcluster"


def heartbeat() -> None:
    heartbeat_record(name=QCLUSTER_HEARTBEAT)
