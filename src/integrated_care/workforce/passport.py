"""Staff passports: who a member of staff is, the checks, registration and training they hold,
the checklist a role requires at each organisation, and what is missing or expiring.

A credential is valid from ``issued_on`` up to the day before ``expires_on`` (on its expiry
date it has expired); one with no expiry date stays valid. A DBS check satisfies a requirement
at its own level or any level below it (basic < standard < enhanced < enhanced with barred lists).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from integrated_care.footprint.services import get_organisation
from integrated_care.workforce.common import Actor, NotFound, WorkforceError, audit
from integrated_care.workforce.models import (
    CREDENTIAL_KINDS,
    DBS_LEVELS,
    REGISTRATION_BODIES,
    STAFF_GROUPS,
    Credential,
    Requirement,
    StaffMember,
)

DATA = Path(__file__).parent / "data"
KIND_LABELS = {
    "identity_check": "Identity check",
    "right_to_work": "Right to work",
    "dbs": "DBS check",
    "professional_registration": "Professional registration",
    "core_skills": "Core skills training",
    "occupational_health": "Occupational health clearance",
}
DBS_LABELS = {
    "basic": "basic",
    "standard": "standard",
    "enhanced": "enhanced",
    "enhanced_barred": "enhanced with barred lists",
}


@lru_cache(maxsize=1)
def core_skills() -> dict[str, dict[str, Any]]:
    """The Core Skills Training Framework subjects by code: title and refresher period."""
    raw = json.loads((DATA / "core_skills.json").read_text())
    return {s["subject"]: s for s in raw["subjects"]}


@lru_cache(maxsize=1)
def default_checklists() -> dict[str, Any]:
    """The default role checklists and the list of new roles (data/checklists.json)."""
    return json.loads((DATA / "checklists.json").read_text())


def need_label(kind: str, detail: str) -> str:
    """What a checklist line asks for, in words."""
    if kind == "dbs":
        return f"DBS check ({DBS_LABELS.get(detail, detail)})"
    if kind == "professional_registration":
        return f"Professional registration ({detail})"
    if kind == "core_skills":
        subject = core_skills().get(detail)
        return f"Training: {subject['title'] if subject else detail}"
    return KIND_LABELS[kind]


# ---- staff and credentials ---------------------------------------------------------------------


def _known_org(session: Session, code: str) -> None:
    if get_organisation(session, code) is None:
        raise WorkforceError(f"{code} is not a member organisation of this ICS")


def get_staff(session: Session, staff_id: int) -> StaffMember:
    person = session.get(StaffMember, staff_id)
    if person is None:
        raise NotFound(f"no member of staff {staff_id}")
    return person


def add_staff(
    session: Session,
    actor: Actor,
    *,
    name: str,
    home_org_code: str,
    staff_group: str,
    role: str,
    user_id: int | None = None,
) -> StaffMember:
    """Record a member of staff of `home_org_code`, audited as ``workforce.staff.added``."""
    _known_org(session, home_org_code)
    if staff_group not in STAFF_GROUPS:
        raise WorkforceError(f"staff group must be one of {', '.join(STAFF_GROUPS)}")
    if not name.strip() or not role.strip():
        raise WorkforceError("a member of staff needs a name and a role")
    person = StaffMember(
        name=name.strip(),
        home_org_code=home_org_code,
        staff_group=staff_group,
        role=role.strip(),
        user_id=user_id,
    )
    session.add(person)
    session.flush()
    audit(session, actor, "staff.added", "staff", person.id, {"home": home_org_code, "role": role})
    return person


def add_credential(
    session: Session,
    actor: Actor,
    staff_id: int,
    *,
    kind: str,
    evidence_ref: str,
    issued_on: date,
    expires_on: date | None = None,
    issuer_org_code: str | None = None,
    issuer_name: str | None = None,
    subject: str | None = None,
    dbs_level: str | None = None,
    registration_body: str | None = None,
    registration_number: str | None = None,
) -> Credential:
    """Add a credential to a passport, audited as ``workforce.credential.added``.

    Core skills training without an expiry date expires after its subject's refresher period.
    """
    get_staff(session, staff_id)
    if kind not in CREDENTIAL_KINDS:
        raise WorkforceError(f"credential kind must be one of {', '.join(CREDENTIAL_KINDS)}")
    if not evidence_ref.strip():
        raise WorkforceError("a credential needs an evidence reference")
    if kind == "dbs" and dbs_level not in DBS_LEVELS:
        raise WorkforceError(f"a DBS check needs a level: one of {', '.join(DBS_LEVELS)}")
    if kind == "professional_registration" and (
        registration_body not in REGISTRATION_BODIES or not registration_number
    ):
        raise WorkforceError(
            f"a registration needs a body ({', '.join(REGISTRATION_BODIES)}) and a number"
        )
    if kind == "core_skills":
        if subject not in core_skills():
            raise WorkforceError(f"unknown core skills subject {subject!r}")
        if expires_on is None:
            years = core_skills()[subject]["refresher_years"]
            expires_on = _add_years(issued_on, years)
    if expires_on is not None and expires_on < issued_on:
        raise WorkforceError("a credential cannot expire before it was issued")
    if issuer_org_code:
        _known_org(session, issuer_org_code)
    credential = Credential(
        staff_id=staff_id,
        kind=kind,
        subject=subject if kind == "core_skills" else None,
        dbs_level=dbs_level if kind == "dbs" else None,
        registration_body=registration_body if kind == "professional_registration" else None,
        registration_number=registration_number if kind == "professional_registration" else None,
        issuer_org_code=issuer_org_code,
        issuer_name=issuer_name,
        evidence_ref=evidence_ref.strip(),
        issued_on=issued_on,
        expires_on=expires_on,
        recorded_by=actor.username,
    )
    session.add(credential)
    session.flush()
    audit(
        session,
        actor,
        "credential.added",
        "credential",
        credential.id,
        {"staff_id": staff_id, "kind": kind, "expires_on": expires_on},
    )
    return credential


def _add_years(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return day.replace(year=day.year + years, day=28)


def credentials_of(session: Session, staff_id: int) -> list[Credential]:
    return list(
        session.scalars(
            select(Credential)
            .where(Credential.staff_id == staff_id)
            .order_by(Credential.kind, Credential.issued_on)
        )
    )


# ---- checklists --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Need:
    kind: str
    detail: str = ""

    @property
    def label(self) -> str:
        return need_label(self.kind, self.detail)


def _check_need(kind: str, detail: str) -> None:
    if kind not in CREDENTIAL_KINDS:
        raise WorkforceError(f"credential kind must be one of {', '.join(CREDENTIAL_KINDS)}")
    allowed = {
        "dbs": DBS_LEVELS,
        "professional_registration": REGISTRATION_BODIES,
        "core_skills": tuple(core_skills()),
    }.get(kind, ("",))
    if detail not in allowed:
        raise WorkforceError(f"{kind} requirement detail must be one of {', '.join(allowed)}")


def set_checklist(
    session: Session, actor: Actor, org_code: str, role: str, needs: list[Need]
) -> list[Requirement]:
    """Replace what `role` requires at `org_code`, audited as ``workforce.checklist.set``."""
    _known_org(session, org_code)
    for n in needs:
        _check_need(n.kind, n.detail)
    if sum(1 for n in needs if n.kind == "dbs") > 1:
        raise WorkforceError("a checklist names one DBS level")
    for old in session.scalars(
        select(Requirement).where(Requirement.org_code == org_code, Requirement.role == role)
    ):
        session.delete(old)
    session.flush()
    rows = [Requirement(org_code=org_code, role=role, kind=n.kind, detail=n.detail) for n in needs]
    session.add_all(rows)
    session.flush()
    audit(
        session,
        actor,
        "checklist.set",
        "requirement",
        f"{org_code}/{role}",
        {"needs": [f"{n.kind}:{n.detail}" for n in needs]},
    )
    return rows


def default_needs(role: str) -> list[Need]:
    """What the default checklists (data/checklists.json) ask of `role`; [] if not listed."""
    data = default_checklists()
    spec = data["roles"].get(role)
    if spec is None:
        return []
    base = data["all_roles"]
    needs = [Need(k) for k in base["credentials"]]
    if spec.get("dbs"):
        needs.append(Need("dbs", spec["dbs"]))
    if spec.get("registration"):
        needs.append(Need("professional_registration", spec["registration"]))
    subjects = dict.fromkeys([*base["core_skills"], *spec.get("core_skills", [])])
    needs += [Need("core_skills", s) for s in subjects]
    return needs


def apply_default_checklists(session: Session, actor: Actor, org_codes: list[str]) -> int:
    """Give each organisation the default checklist for every listed role; lines written."""
    written = 0
    for code in org_codes:
        for role in default_checklists()["roles"]:
            written += len(set_checklist(session, actor, code, role, default_needs(role)))
    return written


def checklist(session: Session, org_code: str, role: str) -> list[Need]:
    rows = session.scalars(
        select(Requirement)
        .where(Requirement.org_code == org_code, Requirement.role == role)
        .order_by(Requirement.id)
    )
    return [Need(r.kind, r.detail) for r in rows]


def checklist_roles(session: Session, org_code: str) -> list[str]:
    return sorted(
        set(session.scalars(select(Requirement.role).where(Requirement.org_code == org_code)))
    )


# ---- assessment --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Gap:
    """A checklist line the passport does not meet (or meets only until soon)."""

    need: Need
    problem: str  # missing | expired | lower_level | expiring
    text: str
    expires_on: date | None = None


@dataclass
class Assessment:
    staff_id: int
    org_code: str
    role: str
    as_of: date
    expiring_by: date
    checklist: list[Need] = field(default_factory=list)
    missing: list[Gap] = field(default_factory=list)  # blocking
    expiring: list[Gap] = field(default_factory=list)  # valid now, not by `expiring_by`

    @property
    def ok(self) -> bool:
        return not self.missing

    def summary(self) -> str:
        if self.ok:
            return f"meets the {self.role} checklist at {self.org_code}"
        return "missing: " + "; ".join(g.text for g in self.missing)


def is_valid(credential: Credential, on: date) -> bool:
    return credential.issued_on <= on and (
        credential.expires_on is None or on < credential.expires_on
    )


def _matches(credential: Credential, need: Need) -> bool:
    if credential.kind != need.kind:
        return False
    if need.kind == "core_skills":
        return credential.subject == need.detail
    if need.kind == "professional_registration":
        return credential.registration_body == need.detail
    return True


def _level(credential: Credential) -> int:
    return DBS_LEVELS.index(credential.dbs_level) if credential.dbs_level in DBS_LEVELS else -1


def _gap(need: Need, held: list[Credential], as_of: date, by: date) -> Gap | None:
    relevant = [c for c in held if _matches(c, need)]
    if need.kind == "dbs":
        wanted = DBS_LEVELS.index(need.detail)
        valid = [c for c in relevant if is_valid(c, as_of)]
        enough = [c for c in valid if _level(c) >= wanted]
        if not enough and valid:
            best = max(valid, key=_level)
            return Gap(
                need,
                "lower_level",
                f"DBS check is {DBS_LABELS[best.dbs_level or '']}; the role needs "
                f"{DBS_LABELS[need.detail]}",
            )
        valid = enough
    else:
        valid = [c for c in relevant if is_valid(c, as_of)]
    if not valid:
        if relevant:
            last = max(relevant, key=lambda c: c.expires_on or date.max)
            when = last.expires_on.isoformat() if last.expires_on else "?"
            return Gap(need, "expired", f"{need.label}: expired on {when}", last.expires_on)
        return Gap(need, "missing", f"{need.label}: none recorded")
    longest = max(valid, key=lambda c: c.expires_on or date.max)
    if longest.expires_on is not None and longest.expires_on <= by:
        return Gap(
            need,
            "expiring",
            f"{need.label}: expires on {longest.expires_on.isoformat()}",
            longest.expires_on,
        )
    return None


def assess(
    session: Session,
    staff_id: int,
    org_code: str,
    role: str,
    *,
    as_of: date,
    within_days: int = 30,
    expiring_by: date | None = None,
) -> Assessment:
    """What `staff_id`'s passport lacks for `role` at `org_code` on `as_of`, and what that it
    holds expires within `within_days` (or by `expiring_by`, if given)."""
    get_staff(session, staff_id)
    by = expiring_by or as_of + timedelta(days=within_days)
    needs = checklist(session, org_code, role)
    held = credentials_of(session, staff_id)
    result = Assessment(staff_id, org_code, role, as_of, by, checklist=needs)
    for need in needs:
        gap = _gap(need, held, as_of, by)
        if gap is None:
            continue
        (result.expiring if gap.problem == "expiring" else result.missing).append(gap)
    return result


def credential_status(credential: Credential, today: date, within_days: int = 30) -> str:
    """valid | expiring | expired | not_yet_valid, for the passport page."""
    if credential.issued_on > today:
        return "not_yet_valid"
    if not is_valid(credential, today):
        return "expired"
    if credential.expires_on and credential.expires_on <= today + timedelta(days=within_days):
        return "expiring"
    return "valid"


def list_staff(session: Session, org_code: str | None = None) -> list[StaffMember]:
    """Members of staff, by name; of one home organisation if given."""
    stmt = select(StaffMember).order_by(StaffMember.name, StaffMember.id)
    if org_code:
        stmt = stmt.where(StaffMember.home_org_code == org_code)
    return list(session.scalars(stmt))


def staff_for_user(session: Session, user_id: int) -> list[StaffMember]:
    return list(session.scalars(select(StaffMember).where(StaffMember.user_id == user_id)))
