"""Saved cohorts in the operational store: save (a new version whenever the definition changes),
find, list, history. Every save is audited; nothing is ever overwritten.

Shipped examples (``data/cohorts``) and saved cohorts share one namespace: a saved cohort may
not take a shipped example's name (copy it under a new name instead).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, inspect, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from integrated_care.accounts.audit import audit_request, record_event
from integrated_care.accounts.policy import Principal
from integrated_care.db import utcnow
from integrated_care.health.cohorts import (
    CohortDefinition,
    CohortEntry,
    CohortError,
    parse_definition,
    shipped_cohort,
    shipped_cohorts,
)
from integrated_care.health.models import Cohort, CohortVersion

CLI_ACTOR = "ics-cli"


@dataclass(frozen=True)
class SaveResult:
    name: str
    version: int
    created: bool  # False: the definition was unchanged, so no new version was made


def _stamp(value: datetime) -> str:
    value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return value.isoformat(timespec="seconds")


def _entry(row: CohortVersion, latest: int) -> CohortEntry:
    return CohortEntry(
        definition=parse_definition(row.definition),
        version=str(row.version),
        source="saved",
        created_by=row.created_by,
        created_at=_stamp(row.created_at),
        latest_version=str(latest),
    )


def save_cohort(
    session: Session,
    definition: CohortDefinition,
    *,
    actor: Principal | str | None = None,
    note: str | None = None,
    request: Any = None,
) -> SaveResult:
    """Save `definition` as the next version of its cohort (version 1 for a new name). An
    unchanged definition makes no new version. Audited as ``cohort.save``, as the request's
    principal when `request` is given, else as `actor`."""
    if shipped_cohort(definition.name) is not None:
        raise CohortError(
            f"name: {definition.name!r} is a shipped example; save your version under a new name"
        )
    if isinstance(actor, Principal):
        who, organisation = actor.username, actor.organisation_code
    else:
        who, organisation = actor or CLI_ACTOR, None
    cohort = session.scalars(
        select(Cohort).where(Cohort.name == definition.name).with_for_update()
    ).first()
    if cohort is None:
        cohort = Cohort(name=definition.name, created_by=who, created_at=utcnow())
        session.add(cohort)
        session.flush()
    latest = session.scalars(
        select(CohortVersion)
        .where(CohortVersion.cohort_id == cohort.id)
        .order_by(CohortVersion.version.desc())
        .limit(1)
    ).first()
    digest = definition.sha256()
    if latest is not None and latest.definition_sha256 == digest:
        return SaveResult(definition.name, latest.version, created=False)
    version = (latest.version if latest else 0) + 1
    session.add(
        CohortVersion(
            cohort_id=cohort.id,
            version=version,
            title=definition.title,
            definition=definition.canonical(),
            definition_sha256=digest,
            note=note or None,
            created_at=utcnow(),
            created_by=who,
            created_by_organisation=organisation,
        )
    )
    session.flush()
    detail = {"version": version, "sha256": digest, "title": definition.title}
    if request is not None:
        audit_request(
            request,
            session,
            action="cohort.save",
            record_type="Cohort",
            record_id=definition.name,
            detail=detail,
        )
    else:
        record_event(
            session,
            actor=who,
            organisation=organisation,
            action="cohort.save",
            outcome="success",
            record_type="Cohort",
            record_id=definition.name,
            detail=detail,
        )
    return SaveResult(definition.name, version, created=True)


def cohort_history(session: Session, name: str) -> list[CohortEntry]:
    """Every saved version of `name`, oldest first (empty for an unknown name)."""
    rows = session.scalars(
        select(CohortVersion)
        .join(Cohort)
        .where(Cohort.name == name)
        .order_by(CohortVersion.version)
    ).all()
    latest = rows[-1].version if rows else 0
    return [_entry(r, latest) for r in rows]


def saved_cohorts(session: Session) -> list[CohortEntry]:
    """The latest version of every saved cohort, by name."""
    newest = (
        select(CohortVersion.cohort_id, func.max(CohortVersion.version).label("version"))
        .group_by(CohortVersion.cohort_id)
        .subquery()
    )
    rows = session.scalars(
        select(CohortVersion)
        .join(
            newest,
            (CohortVersion.cohort_id == newest.c.cohort_id)
            & (CohortVersion.version == newest.c.version),
        )
        .join(Cohort)
        .order_by(Cohort.name)
    ).all()
    return [_entry(r, r.version) for r in rows]


def all_cohorts(session: Session | None) -> list[CohortEntry]:
    """Shipped examples, then saved cohorts (latest versions)."""
    return [*shipped_cohorts(), *(saved_cohorts(session) if session is not None else [])]


def find_cohort(
    session: Session | None, name: str, version: str | int | None = None
) -> CohortEntry:
    """A shipped or saved cohort by name (a saved one at `version`, default its latest);
    :class:`CohortError` listing the cohorts there are otherwise."""
    shipped = shipped_cohort(name)
    if shipped is not None:
        if version not in (None, "", shipped.version):
            raise CohortError(f"{name} is shipped at version {shipped.version} only")
        return shipped
    history = cohort_history(session, name) if session is not None else []
    if not history:
        known = ", ".join(c.name for c in all_cohorts(session))
        raise CohortError(f"no cohort named {name!r}; cohorts: {known}")
    if version in (None, ""):
        return history[-1]
    found = next((h for h in history if h.version == str(version)), None)
    if found is None:
        raise CohortError(
            f"{name} has no version {version}; versions: {', '.join(h.version for h in history)}"
        )
    return found


def store_has_cohorts(engine: Engine) -> bool:
    """True when the store's schema has the cohort tables (it is migrated far enough)."""
    return inspect(engine).has_table("cohort_version")
