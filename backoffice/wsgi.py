import os

from django.core.exceptions import ImproperlyConfigured
from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backoffice.settings")
application = get_wsgi_application()

from django.conf import settings  # noqa: E402  (configured by the line above)

if settings.SECRET_KEY_EPHEMERAL and not settings.DEBUG:
    raise ImproperlyConfigured(
        "SECRET_KEY is not set. `make run` generates one in var/secret_key; "
        "production must set it explicitly."
    )
