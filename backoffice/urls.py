from django.conf import settings
from django.contrib import admin
from django.contrib.admin.views.decorators import staff_member_required
from django.urls import include, path
from django.views.generic import RedirectView
from django.views.static import serve
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from backoffice.views import healthz

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="admin:index", permanent=False)),
    path("healthz", healthz, name="healthz"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("admin/", admin.site.urls),
    path("", include("exceptions.urls")),  # its API under /api/v1/, its staff form
    path("api/v1/", include("orders.api.urls")),
    path("api/v1/staff/", include("approvals.urls")),
    path("api/v1/metrics/", include("reports.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    # QC photos and other uploads: staff only (customers' parcels are not public).
    path(
        f"{settings.MEDIA_URL.strip('/')}/<path:path>",
        staff_member_required(serve),
        {"document_root": settings.MEDIA_ROOT},
    ),
]

# Under /api/ errors are JSON in the API's one error shape, never an HTML page.
handler404 = "backoffice.views.not_found"
handler500 = "backoffice.views.server_error"
