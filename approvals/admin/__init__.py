from approvals.admin import codes, prices, rules, switches  # noqa: F401
