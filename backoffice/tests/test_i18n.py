"""The Simplified Chinese catalogue is complete and up to date with the code."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.utils import translation

from orders.states import OrderStatus

PO = Path(settings.BASE_DIR) / "locale" / "zh_Hans" / "LC_MESSAGES" / "django.po"


def _entries(text: str):
    """(msgid, [msgstr...], flags) for each entry except the header."""
    for block in text.split("\n\n"):
        if "msgid " not in block:
            continue
        flags = " ".join(line for line in block.splitlines() if line.startswith("#,"))
        msgid = "".join(re.findall(r'^(?:msgid )?"(.*)"$', block.split("msgid_plural")[0]
                                   .split("msgstr")[0], re.M))  # fmt: skip
        msgstrs = re.findall(r'^msgstr(?:\[\d\])? "(.*)"((?:\n".*")*)', block, re.M)
        values = [first + "".join(re.findall(r'"(.*)"', more)) for first, more in msgstrs]
        if msgid:
            yield msgid, values, flags


def test_every_entry_is_translated_and_none_is_fuzzy():
    untranslated = [m for m, values, _ in _entries(PO.read_text("utf-8")) if not all(values)]
    fuzzy = [m for m, _, flags in _entries(PO.read_text("utf-8")) if "fuzzy" in flags]
    assert untranslated == [], f"untranslated: {untranslated}"
    assert fuzzy == [], f"fuzzy: {fuzzy}"


@pytest.mark.skipif(shutil.which("xgettext") is None, reason="GNU gettext is not installed")
def test_catalogue_has_every_string_of_the_code(tmp_path):
    """makemessages on a copy of the tree adds nothing untranslated."""
    root = Path(settings.BASE_DIR)
    copy = tmp_path / "tree"
    shutil.copytree(root, copy, ignore=shutil.ignore_patterns(
        ".venv", ".git", "var", "staticfiles", "node_modules", "__pycache__", ".hypothesis",
        "*.sqlite3", "bench"))  # fmt: skip
    env = {**os.environ, "SECRET_KEY": "i18n-test", "DJANGO_SETTINGS_MODULE": "backoffice.settings"}
    env.pop("DATABASE_URL", None)
    subprocess.run(
        [sys.executable, "manage.py", "makemessages", "-l", "zh_Hans", "--no-location"],
        cwd=copy, env=env, check=True, capture_output=True,
    )  # fmt: skip
    merged = (copy / "locale" / "zh_Hans" / "LC_MESSAGES" / "django.po").read_text("utf-8")
    missing = [m for m, values, _ in _entries(merged) if not all(values)]
    assert missing == [], f"strings in the code but not translated (run `make messages`): {missing}"


def test_the_compiled_catalogue_is_used():
    with translation.override("zh-hans"):
        assert str(OrderStatus.SALES_REVIEW.label) == "销售确认"
        assert str(OrderStatus.FINANCE_REVIEW.label) == "财务核价"
    with translation.override("en"):
        assert str(OrderStatus.SALES_REVIEW.label) == "Sales review"
