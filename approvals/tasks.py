"""django-q2 entry points of the approvals app (see AppConfig.schedules)."""


def bypasses_expire() -> int:
    """Switch off every bypass past its expiry (they never apply once expired anyway)."""
    from approvals.services.switches import bypasses_expire as expire

    return expire()
