"""The service directory: which services each member organisation takes referrals into, with
their criteria, waiting-time target and whether they are accepting referrals.

A synthetic ICS gets its directory from a versioned data file (``data/services.json``) applied
to the footprint's organisations; a real one maintains it through :func:`add_service` and
:func:`set_accepting`. Every change is audited.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from integrated_care.accounts.audit import record_event
from integrated_care.coordination.referral_models import SERVICE_KINDS, Service

DATA_FILE = Path(__file__).parent / "data" / "services.json"
KIND_LABELS = {
    "social_prescribing": "Social prescribing",
    "community_nursing": "Community nursing",
    "mental_health": "Mental health",
    "falls": "Falls prevention",
    "debt_advice": "Debt and benefits advice",
    "carers_support": "Carers support",
    "physiotherapy": "Physiotherapy",
    "housing_support": "Housing support",
    "befriending": "Befriending",
    "weight_management": "Weight management",
}


class DirectoryError(ValueError):
    """A directory entry was refused; the message names the field and why."""

    def __init__(self, message: str, status: int = 422) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class LoadReport:
    version: str
    added: int
    unchanged: int


@lru_cache(maxsize=1)
def directory_data() -> dict[str, Any]:
    """The data file of service templates (read once)."""
    return json.loads(DATA_FILE.read_text())


def urgency_caps() -> dict[str, int]:
    """The most days any service may take for an urgent or two-week-wait style referral."""
    return dict(directory_data()["urgency_target_days"])


def effective_target(service_target: int, urgency: str) -> int:
    """The waiting-time target of a referral: the service's, capped for urgent referrals."""
    cap = urgency_caps().get(urgency)
    return min(service_target, cap) if cap else service_target


def _check(name: str, kind: str, wait_target_days: int, criteria: str) -> None:
    if not name.strip():
        raise DirectoryError("name: a service needs a name")
    if kind not in SERVICE_KINDS:
        raise DirectoryError(f"kind: {kind!r} is not one of {', '.join(SERVICE_KINDS)}")
    if wait_target_days < 1:
        raise DirectoryError(f"wait_target_days: must be at least 1 day, not {wait_target_days}")
    if not criteria.strip():
        raise DirectoryError("criteria: say who the service is for")


def _audit(session: Session, actor: str, organisation: str | None, action: str, s: Service) -> None:
    record_event(
        session,
        actor=actor,
        organisation=organisation,
        action=f"coordination.service.{action}",
        outcome="success",
        record_type="coord_service",
        record_id=str(s.id),
        detail={"org_code": s.org_code, "name": s.name, "accepting": s.accepting},
    )


def add_service(
    session: Session,
    *,
    org_code: str,
    name: str,
    kind: str,
    description: str,
    criteria: str,
    wait_target_days: int,
    accepting: bool = True,
    actor: str,
    actor_organisation: str | None = None,
) -> Service:
    """Add a service to the directory (refused if the organisation is not in the footprint or
    already has a service of that name)."""
    from integrated_care.footprint.services import get_organisation

    _check(name, kind, wait_target_days, criteria)
    if get_organisation(session, org_code) is None:
        raise DirectoryError(f"org_code: {org_code!r} is not an organisation of this ICS")
    if find_service(session, org_code, name) is not None:
        raise DirectoryError(f"name: {org_code} already has a service called {name!r}")
    service = Service(
        org_code=org_code,
        name=name.strip(),
        kind=kind,
        description=description.strip(),
        criteria=criteria.strip(),
        wait_target_days=wait_target_days,
        accepting=accepting,
    )
    session.add(service)
    session.flush()
    _audit(session, actor, actor_organisation, "add", service)
    return service


def set_accepting(
    session: Session, service_id: int, accepting: bool, *, actor: str, actor_organisation: str
) -> Service:
    """Open or close a service to new referrals (only its own organisation may)."""
    service = get_service(session, service_id)
    if service.org_code != actor_organisation:
        raise DirectoryError(
            f"only {service.org_code} may open or close its service; you act for "
            f"{actor_organisation}",
            403,
        )
    service.accepting = accepting
    session.flush()
    _audit(session, actor, actor_organisation, "accepting", service)
    return service


def _organisations_for(session: Session, template: dict[str, Any]) -> list[tuple[str, str]]:
    from integrated_care.footprint.services import list_organisations

    pattern = re.compile(template["name_pattern"]) if "name_pattern" in template else None
    for org_type in template["org_types"]:
        orgs = list_organisations(session, org_type=org_type)
        if orgs:
            return sorted(
                (o.org_code, o.name) for o in orgs if pattern is None or pattern.search(o.name)
            )
    return []


def load_directory(session: Session, *, actor: str) -> LoadReport:
    """Add the data file's services for this footprint's organisations; a service already in
    the directory (same organisation and name) is left as it is, so reloading is safe."""
    data = directory_data()
    added = unchanged = 0
    for template in data["services"]:
        for org_code, _name in _organisations_for(session, template):
            if find_service(session, org_code, template["name"]) is not None:
                unchanged += 1
                continue
            add_service(
                session,
                org_code=org_code,
                name=template["name"],
                kind=template["kind"],
                description=template["description"],
                criteria=template["criteria"],
                wait_target_days=template["wait_target_days"],
                accepting=template["accepting"],
                actor=actor,
            )
            added += 1
    return LoadReport(data["version"], added, unchanged)


def find_service(session: Session, org_code: str, name: str) -> Service | None:
    return session.scalar(
        select(Service).where(Service.org_code == org_code, Service.name == name.strip())
    )


def get_service(session: Session, service_id: int) -> Service:
    service = session.get(Service, service_id)
    if service is None:
        raise DirectoryError(f"service_id: there is no service {service_id} in the directory")
    return service


def list_services(
    session: Session,
    *,
    org_code: str | None = None,
    kind: str | None = None,
    accepting: bool | None = None,
) -> list[Service]:
    """The directory, narrowed by organisation, kind and whether accepting; by kind, then name."""
    query = select(Service)
    if org_code:
        query = query.where(Service.org_code == org_code)
    if kind:
        query = query.where(Service.kind == kind)
    if accepting is not None:
        query = query.where(Service.accepting == accepting)
    return list(session.scalars(query.order_by(Service.kind, Service.name, Service.org_code)))
