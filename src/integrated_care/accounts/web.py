"""Plugs accounts into the web app: the middleware, the page context, menu entries, routes."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request

from integrated_care.accounts import api, routes
from integrated_care.accounts.middleware import AccountsMiddleware
from integrated_care.web.navigation import NavItem, register_nav_item
from integrated_care.web.templating import add_context_processor

NAV_ITEMS = (
    NavItem("Users", "/admin/users", "users:manage"),
    NavItem("Audit log", "/audit", "audit:read"),
)


def account_context(request: Request) -> dict[str, Any]:
    """`principal` and `csrf_token` for every page (the header's account menu and sign-out form)."""
    state = request.state
    return {
        "principal": getattr(state, "principal", None),
        "csrf_token": getattr(state, "csrf_token", None) or "",
    }


def install(app: FastAPI) -> None:
    """Add sign-in, sessions, CSRF, security headers and the accounts and audit pages to `app`."""
    app.add_middleware(AccountsMiddleware, runtime=app.state.runtime)
    add_context_processor(account_context)
    for item in NAV_ITEMS:
        register_nav_item(item)
    app.include_router(routes.router)
    app.include_router(api.router)
