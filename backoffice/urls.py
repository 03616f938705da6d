from django.conf import settings
from django.contrib import admin
from django.contrib.admin.views.decorators import staff_member_required
from django.urls import include, path
from django.views.generic import RedirectView
from django.views.static import serve

from backoffice.views import healthz

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="admin:index", permanent=False)),
    path("healthz", healthz, name="healthz"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("admin/", admin.site.urls),
    # QC photos and other uploads: staff only (customers' parcels are not public).
    path(
        f"{settings.MEDIA_URL.strip('/')}/<path:path>",
        staff_member_required(serve),
        {"document_root": settings.MEDIA_ROOT},
    ),
]
