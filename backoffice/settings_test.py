"""Test overlay: the same settings, made fast and deterministic for pytest.

django-q2 reads Q_CLUSTER["sync"] once at import, so it is set here and not in a
fixture (STYLE.md): tasks run inline in the test process.
"""

import os
import tempfile

os.environ.setdefault("SECRET_KEY", "test-only-secret-key")

from backoffice.settings import *  # noqa: F403
from backoffice.settings import Q_CLUSTER, STORAGES

Q_CLUSTER = {**Q_CLUSTER, "sync": True}
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
STORAGES = {
    **STORAGES,
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
LANGUAGE_CODE = "en"
# Uploaded QC photos go to a throwaway folder, never into the working tree.
MEDIA_ROOT = tempfile.mkdtemp(prefix="backoffice-test-media-")
# Tests serve static files through the finders (no collectstatic needed).
STATIC_ROOT = tempfile.mkdtemp(prefix="backoffice-test-static-")
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
# Routing rules are read from the database at every decision: a rolled-back test
# must not leave its rules in a process cache for the next one.
APPROVALS_RULE_CACHE_SECONDS = 0
HEALTH_WEIGHTS_CACHE_SECONDS = 0  # like the rules: no cache across rolled-back tests
