"""A short cut to the endpoints of the busiest API (the FHIR server) past FastAPI's dispatch.

FastAPI (0.16x) finds a request's route by walking every included router, matching each route
twice and solving each endpoint's dependencies; for a FHIR read that took more CPU than the
read itself. The FHIR endpoints need none of it: each takes the request and string path
parameters only. :func:`install` puts one route in front of the app's routes that matches the
paths under a prefix against those endpoints' own path patterns, in the order the app would
try them, and calls the endpoint directly. Endpoints with dependencies (or other parameters)
keep their place in that order but are left to FastAPI. The FastAPI routes stay registered,
so the OpenAPI document is unchanged; a request the short cut does not take falls through.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Iterable

from fastapi import FastAPI
from fastapi.routing import APIRoute, APIRouter
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match, Route
from starlette.types import Receive, Scope, Send

_MATCHED = "integrated_care.shortcut_route"
Endpoint = Callable[..., Awaitable[Response]]


class Shortcut(BaseRoute):
    """Routes under `prefix`, tried in order; only full matches (path and method) are taken."""

    def __init__(self, prefix: str, routes: list[tuple[Route, bool]]) -> None:
        self.prefix = prefix
        self.routes = routes  # (route, taken directly); the rest are FastAPI's to answer

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope["type"] != "http" or not scope["path"].startswith(self.prefix):
            return Match.NONE, {}
        for route, direct in self.routes:
            match, child_scope = route.matches(scope)
            if match == Match.FULL:
                if not direct:
                    return Match.NONE, {}  # FastAPI's own route answers, as without the short cut
                return Match.FULL, {**child_scope, _MATCHED: route}
            # A partial match (same path, another method) goes on, as in Starlette's router: a
            # later route may take the method; if none does, the app's routes answer (405).
        return Match.NONE, {}

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        await scope[_MATCHED].handle(scope, receive, send)


def _direct(endpoint: Endpoint) -> Callable[[Request], Awaitable[Response]]:
    async def call(request: Request) -> Response:
        return await endpoint(request, **request.path_params)

    return call


def _takes_request_and_path_only(route: APIRoute) -> bool:
    parameters = list(inspect.signature(route.endpoint).parameters.values())
    if not parameters or parameters[0].name != "request":
        return False
    path_names = set(route.param_convertors)
    return all(p.name in path_names for p in parameters[1:]) and not route.dependencies


def install(app: FastAPI, prefix: str, routers: Iterable[APIRouter]) -> int:
    """Put a short cut to `routers`' routes under `prefix` in front of `app`'s routes.

    `routers` must be given in the order the app includes them. Routes whose endpoints take
    anything but the request and path parameters are left to FastAPI. Returns how many routes
    the short cut serves directly."""
    routes: list[tuple[Route, bool]] = []
    for router in routers:
        for route in router.routes:
            if not isinstance(route, APIRoute) or not route.path.startswith(prefix):
                continue
            if not _takes_request_and_path_only(route):
                routes.append((route, False))
                continue
            direct = Route(route.path, _direct(route.endpoint), methods=list(route.methods))
            direct.methods = set(route.methods)  # Starlette would add HEAD to GET; FastAPI doesn't
            routes.append((direct, True))
    app.router.routes.insert(0, Shortcut(prefix, routes))
    return sum(direct for _route, direct in routes)


def shortcut_paths(app: FastAPI) -> list[tuple[str, bool]]:
    """(path, taken directly) of each route of the app's short cuts, in order (for tests)."""
    return [
        (route.path, direct)
        for s in app.router.routes
        if isinstance(s, Shortcut)
        for route, direct in s.routes
    ]
