"""Settings: management commands run without a SECRET_KEY; serving refuses to."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _run(*args: str, **extra_env: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "DEBUG")}
    env["DJANGO_SETTINGS_MODULE"] = "backoffice.settings"
    env.update(extra_env)
    env.pop("DATABASE_URL", None)
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def test_makemigrations_check_runs_without_a_secret_key():
    result = _run("manage.py", "makemigrations", "--check", "--dry-run")
    assert result.returncode == 0, result.stderr
    assert "No changes detected" in result.stdout


def test_serving_without_a_secret_key_is_refused():
    result = _run("-c", "import backoffice.wsgi")
    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr


def test_a_web_worker_settles_its_start_up_objects_out_of_the_collectors_way():
    """The WSGI module imports what requests would (the URLconf's views) and freezes the
    objects of start-up, so full garbage collections stay short; review charts load
    matplotlib only when a review is shown."""
    script = (
        "import gc, sys, backoffice.wsgi; "
        "print(gc.get_freeze_count(), 'orders.api.views' in sys.modules, "
        "'matplotlib' in sys.modules)"
    )
    result = _run("-c", script, SECRET_KEY="worker-test")
    assert result.returncode == 0, result.stderr
    frozen, views_loaded, matplotlib_loaded = result.stdout.split()
    assert int(frozen) > 50_000
    assert views_loaded == "True"
    assert matplotlib_loaded == "False"
