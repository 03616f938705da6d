from django.conf import settings
from django.db import DatabaseError, connection
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from backoffice.services import heartbeat_age
from backoffice.tasks import QCLUSTER_HEARTBEAT


@never_cache
@require_GET
def healthz(request):
    """200 when the database answers and the qcluster beat recently; 503 otherwise.

    Load balancers and the on-call person read this; it says which part failed.
    """
    checks: dict[str, object] = {}
    healthy = True
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        checks["database"] = "ok"
    except DatabaseError as exc:
        checks["database"] = f"error: {exc.__class__.__name__}"
        return JsonResponse({"status": "fail", "checks": checks}, status=503)

    age = heartbeat_age(name=QCLUSTER_HEARTBEAT)
    if age is None:
        checks["qcluster"] = "no heartbeat yet"
        healthy = False
    else:
        seconds = int(age.total_seconds())
        checks["qcluster_heartbeat_age_seconds"] = seconds
        if seconds > settings.HEARTBEAT_MAX_AGE:
            checks["qcluster"] = "stale"
            healthy = False
        else:
            checks["qcluster"] = "ok"
    return JsonResponse(
        {"status": "ok" if healthy else "fail", "checks": checks}, status=200 if healthy else 503
    )


def not_found(request, exception=None):
    if request.path.startswith("/api/"):
        from orders.api.errors import api_not_found

        return api_not_found(request, exception)
    from django.views.defaults import page_not_found

    return page_not_found(request, exception)


def server_error(request):
    if request.path.startswith("/api/"):
        from orders.api.errors import api_server_error

        return api_server_error(request)
    from django.views.defaults import server_error as default_server_error

    return default_server_error(request)
