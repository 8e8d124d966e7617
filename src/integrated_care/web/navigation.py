"""What every page shows around its content: the ICS's name, the synthetic-data flag, the menu."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import Request

from integrated_care.web.templating import add_context_processor


@dataclass(frozen=True)
class NavItem:
    text: str
    href: str
    permission: str | None = None  # None: shown to everyone, signed in or not


# Domains add their entries in the order the menu shows them.
NAV_ITEMS: list[NavItem] = [
    NavItem("Home", "/"),
    NavItem("Footprint", "/footprint"),
]


def register_nav_item(item: NavItem) -> None:
    if item not in NAV_ITEMS:
        NAV_ITEMS.append(item)


def _page_context(request: Request) -> dict[str, Any]:
    from integrated_care.accounts.policy import allows
    from integrated_care.footprint.services import system_summary

    runtime = request.app.state.runtime
    with runtime.sessions() as session:
        system = system_summary(session)
    principal = getattr(request.state, "principal", None)
    path = request.url.path
    items = [
        {
            "text": i.text,
            "href": i.href,
            "current": path == i.href or (i.href != "/" and path.startswith(i.href + "/")),
        }
        for i in NAV_ITEMS
        if i.permission is None or (principal is not None and allows(principal, i.permission))
    ]
    return {
        "ics_name": system.name if system else "integrated-care",
        "synthetic_data": bool(system and system.synthetic_data),
        "nav_items": items,
    }


def add_page_context() -> None:
    add_context_processor(_page_context)
