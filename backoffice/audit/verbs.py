"""Human labels of audit verbs, registered by the apps that write them.

The log stores stable slugs ("order.transition"); the admin shows the label in the
user's language and filters by the registered list instead of a DISTINCT over
millions of rows.
"""

from __future__ import annotations

from django.utils.functional import Promise

_VERBS: dict[str, str | Promise] = {}


def register_verbs(verbs: dict[str, str | Promise]) -> None:
    _VERBS.update(verbs)


def verb_label(verb: str) -> str:
    return str(_VERBS.get(verb, verb))


def verb_choices() -> list[tuple[str, str]]:
    return sorted(((code, str(label)) for code, label in _VERBS.items()), key=lambda c: c[0])
