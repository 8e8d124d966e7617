"""The accounts and audit JSON API: who am I, users, roles, the audit log and its chain check."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from pydantic import BaseModel, Field

from integrated_care.accounts import services
from integrated_care.accounts.audit import (
    AuditFilter,
    audit_request,
    search_events,
    verify_and_record,
)
from integrated_care.accounts.models import User
from integrated_care.accounts.policy import Principal, grants, require, require_signed_in

router = APIRouter(prefix="/api")
REFUSALS: dict[int | str, dict[str, Any]] = {
    401: {"description": "Not signed in, or the API token is not valid"},
    403: {"description": "Signed in, but not allowed to do this"},
}


class Me(BaseModel):
    username: str
    display_name: str
    organisation_code: str
    organisation_name: str
    roles: list[str]
    permissions: list[str]
    auth_method: str
    scopes: list[str] | None


class UserOut(BaseModel):
    username: str
    display_name: str
    organisation_code: str
    roles: list[str]
    active: bool
    created_at: datetime


class UserIn(BaseModel):
    username: str = Field(examples=["a.nurse"])
    password: str = Field(min_length=1, description="At least 12 characters")
    roles: list[str] = Field(examples=[["care_professional"]])
    organisation_code: str = Field(examples=["QK1"], description="ODS code of the organisation")
    display_name: str | None = None


class Role(BaseModel):
    name: str
    title: str
    description: str
    permissions: list[str]


class AuditEventOut(BaseModel):
    id: int
    occurred_at: datetime
    actor: str
    actor_organisation: str | None
    action: str
    record_type: str | None
    record_id: str | None
    reason: str | None
    outcome: str
    detail: dict[str, Any] | None
    client: str | None
    prev_hash: str
    hash: str


class AuditPage(BaseModel):
    total: int
    limit: int
    offset: int
    events: list[AuditEventOut]


class ChainStatus(BaseModel):
    ok: bool
    rows_checked: int
    first_bad_id: int | None
    problem: str | None
    head_hash: str


def _user_out(user: User) -> UserOut:
    return UserOut(
        username=user.username,
        display_name=user.display_name,
        organisation_code=user.organisation_code,
        roles=user.role_names,
        active=user.active,
        created_at=user.created_at,
    )


@router.get("/me", tags=["accounts"], summary="Who you are signed in as", responses=REFUSALS)
def me(principal: Principal = Depends(require_signed_in())) -> Me:
    return Me(
        username=principal.username,
        display_name=principal.display_name,
        organisation_code=principal.organisation_code,
        organisation_name=principal.organisation_name,
        roles=sorted(principal.roles),
        permissions=sorted(principal.permissions),
        auth_method=principal.auth_method,
        scopes=sorted(principal.scopes) if principal.scopes is not None else None,
    )


@router.get(
    "/roles", tags=["accounts"], summary="Roles and the permissions each grants", responses=REFUSALS
)
def roles(principal: Principal = Depends(require_signed_in())) -> list[Role]:
    return [
        Role(
            name=r.name, title=r.title, description=r.description, permissions=sorted(r.permissions)
        )
        for r in grants().roles.values()
    ]


@router.get("/users", tags=["accounts"], summary="Every user account", responses=REFUSALS)
def users(
    request: Request, principal: Principal = Depends(require("users:manage"))
) -> list[UserOut]:
    with request.app.state.runtime.transaction() as session:
        audit_request(request, session, action="users.list", record_type="User")
        return [_user_out(u) for u in services.list_users(session)]


@router.post(
    "/users",
    tags=["accounts"],
    summary="Create a user account",
    status_code=201,
    responses={**REFUSALS, 422: {"description": "The account cannot be created"}},
)
def create_user(
    request: Request, body: UserIn, principal: Principal = Depends(require("users:manage"))
) -> UserOut:
    try:
        with request.app.state.runtime.transaction() as session:
            user = services.create_user(
                session,
                body.username,
                body.password,
                body.roles,
                body.organisation_code,
                body.display_name,
                actor=principal,
            )
            return _user_out(user)
    except services.AccountError as exc:
        raise HTTPException(422, str(exc)) from exc


@router.get("/audit", tags=["audit"], summary="The audit log, newest first", responses=REFUSALS)
def audit_log(
    request: Request,
    actor: str | None = None,
    action: str | None = None,
    outcome: str | None = None,
    record_type: str | None = None,
    record_id: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = Query(100, ge=1, le=1000),
    offset: int = Query(0, ge=0, le=2**31 - 1),  # a database integer
    principal: Principal = Depends(require("audit:read")),
) -> AuditPage:
    where = AuditFilter(actor, action, outcome, record_type, record_id, since, until)
    with request.app.state.runtime.transaction() as session:
        events, total = search_events(session, where, limit=limit, offset=offset)
        page = AuditPage(
            total=total,
            limit=limit,
            offset=offset,
            events=[AuditEventOut.model_validate(e, from_attributes=True) for e in events],
        )
        filters = {k: str(v) for k, v in asdict(where).items() if v}
        audit_request(
            request,
            session,
            action="audit.read",
            record_type="AuditEvent",
            detail={"filters": filters, "limit": limit, "offset": offset},
        )
    return page


@router.get(
    "/audit/verify", tags=["audit"], summary="Check the audit log's hash chain", responses=REFUSALS
)
def audit_verify(
    request: Request, principal: Principal = Depends(require("audit:read"))
) -> ChainStatus:
    with request.app.state.runtime.transaction() as session:
        report = verify_and_record(request, session)
    return ChainStatus(**asdict(report))
