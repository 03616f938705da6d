"""Settings for benchmark workers: production settings, measured in-process.

Only what an in-process `django.test.Client` needs changes: its host name is allowed,
and static URLs resolve without a collectstatic manifest. The URLconf is the
application's plus the intake benchmark's baseline view (bench.urls); the intake
benchmark's gunicorn server runs with these settings too.
"""

import os
import warnings

os.environ.setdefault("SECRET_KEY", "bench")

from backoffice.settings import *  # noqa: F403
from backoffice.settings import ALLOWED_HOSTS, LOGGING, STORAGES

ALLOWED_HOSTS = [*ALLOWED_HOSTS, "testserver"]
STORAGES = {
    **STORAGES,
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
ROOT_URLCONF = "bench.urls"
LOGGING = {**LOGGING, "root": {"handlers": ["console"], "level": "WARNING"}}

# WhiteNoise warns once per process that STATIC_ROOT was never collected: irrelevant here.
warnings.filterwarnings("ignore", message="No directory at")
