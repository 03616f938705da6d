"""The WSGI entry point (gunicorn `backoffice.wsgi`), one per web worker process."""

import gc
import os

from django.core.exceptions import ImproperlyConfigured
from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backoffice.settings")
application = get_wsgi_application()

from django.conf import settings  # noqa: E402  (configured by the line above)
from django.urls import get_resolver  # noqa: E402

if settings.SECRET_KEY_EPHEMERAL and not settings.DEBUG:
    raise ImproperlyConfigured(
        "SECRET_KEY is not set. `make run` generates one in var/secret_key; "
        "production must set it explicitly."
    )


def _settle() -> None:
    """Import what the first requests would (the URLconf and every view module behind
    it), then take the objects of start-up out of the garbage collector's sight.

    A worker starts with about 130,000 objects (Django, DRF, the admin, import-export
    and the libraries they load) that live as long as the process. Python's full
    collection walks every one of them: ~100 ms during which the worker's threads all
    wait, several times a minute under load, which was intake's worst latency.
    `gc.freeze()` moves them to the permanent generation; full collections then walk
    only what requests created, a few ms."""
    get_resolver().url_patterns  # noqa: B018  (imports the URL modules)
    gc.collect()
    gc.freeze()


_settle()
