"""Sections other apps add to the order page (orders imports none of them).

An app registers a function `panel(request, order) -> OrderPanel | None` in its
`AppConfig.ready()`; the order page shows every panel returned, after its own.
Approvals shows price changes and bypass obligations there, exceptions the open
cases, the evaluation card its facts.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class PanelLink:
    label: str
    url: str
    # "button" for an action, "" for a plain link.
    style: str = "button"


@dataclass
class OrderPanel:
    title: str
    # Lines of text, each optionally a link: (text, url or "", css class or "").
    rows: list[tuple[str, str, str]] = field(default_factory=list)
    links: list[PanelLink] = field(default_factory=list)
    # Lower comes first.
    order: int = 100
    # Shown above the order's own "Now" section (e.g. open blocking cases).
    on_top: bool = False


PanelFunction = Callable[..., "OrderPanel | None"]
_panels: dict[str, PanelFunction] = {}


def register_order_panel(name: str, function: PanelFunction) -> None:
    """Register (or replace) the panel `name`."""
    _panels[name] = function


def order_panels(request, order) -> list[OrderPanel]:
    panels = [panel for function in _panels.values() if (panel := function(request, order))]
    return sorted(panels, key=lambda p: p.order)
