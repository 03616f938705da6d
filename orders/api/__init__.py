"""The partner REST API (`/api/v1/`) and the staff endpoints for phones."""
