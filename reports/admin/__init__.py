from reports.admin import reviews  # noqa: F401
