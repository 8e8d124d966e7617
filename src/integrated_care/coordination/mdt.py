"""MDT worklists: a PCN's multi-disciplinary team works through case-finding cohorts of its own
patients.

The cohort is evaluated on the pseudonymised marts (health.cohort_query), restricted to the PCN,
and re-identified here, in the direct-care plane, in two steps: the warehouse's pseudonymous
``patient_id`` to an NHS number through the identifiable ``patients`` extract the warehouse was
loaded from (``ics load`` drops NHS numbers, so the warehouse alone cannot do it), then the NHS
number to the Patient of the shared care record through its identifier index. Only members of
the PCN's MDT (users acting for the PCN or one of its practices) holding
``analytics:reidentify`` may do it, and each attempt is audited (``mdt.reidentify``: who, which
cohort and version, which PCN, how many people), refused or not.

The patients on open entries are the MDT's caseload: :func:`mdt_caseload` is a relationship
source (record.relationships), so members of the PCN's MDT may open those records through
the one access decision while the work is open.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Select, or_, select
from sqlalchemy.orm import Session

from integrated_care.accounts import policy
from integrated_care.accounts.audit import record_event
from integrated_care.accounts.models import User
from integrated_care.accounts.policy import Decision, Principal
from integrated_care.coordination.mdt_models import (
    ENTRY_STATUSES,
    MdtEntryEvent,
    MdtWorklist,
    MdtWorklistEntry,
)
from integrated_care.db import utcnow
from integrated_care.footprint.models import FootprintPcn, FootprintPractice
from integrated_care.health.cohorts import CohortDefinition
from integrated_care.record.identifiers import NHS_NUMBER_SYSTEM
from integrated_care.record.models import RecordResource, SearchToken
from integrated_care.record.relationships import pcn_of, register_relationship_source
from integrated_care.settings import Settings

STATUS_LABELS = {"open": "To discuss", "in_progress": "Action in progress", "done": "Done"}
CHUNK = 500


class MdtError(ValueError):
    """Bad input: names what was wrong; nothing is stored."""


class NotFound(LookupError):
    pass


class Refused(PermissionError):
    """Not allowed; the caller audits the refusal."""


@dataclass(frozen=True)
class Actor:
    """Who is acting, for the audit log."""

    username: str
    organisation: str
    client: str | None = None

    @classmethod
    def of(cls, principal: Principal, client: str | None = None) -> Actor:
        return cls(principal.username, principal.organisation_code, client)


# ---- who is on the MDT ---------------------------------------------------------------------------


def mdt_pcn(session: Session, principal: Principal) -> str | None:
    """The PCN whose MDT the principal belongs to: that of the practice they act for, or the
    PCN itself (a clinical director or PCN-employed staff acting for the PCN)."""
    code = principal.organisation_code
    return pcn_of(session, code) or (code if session.get(FootprintPcn, code) else None)


def may_reidentify(session: Session, principal: Principal, pcn_code: str) -> Decision:
    """May the principal re-identify a cohort for this PCN? ``analytics:reidentify`` and acting
    for the PCN or one of its practices."""
    permitted = policy.decide(principal, "analytics:reidentify")
    if not permitted.allowed:
        return permitted
    own = mdt_pcn(session, principal)
    if own != pcn_code:
        where = f"PCN {own}" if own else f"{principal.organisation_code}, not a practice or PCN"
        return Decision(
            False,
            f"only members of PCN {pcn_code}'s MDT (staff of the PCN or its practices) may "
            f"re-identify its patients; you act for {where}",
        )
    return Decision(True, f"MDT member of PCN {pcn_code}; {permitted.reason}")


def may_work_on(session: Session, principal: Principal, pcn_code: str, permission: str) -> Decision:
    """care:read / care:write on a PCN's worklists: the permission, and membership of its MDT."""
    permitted = policy.decide(principal, permission)
    if not permitted.allowed:
        return permitted
    if mdt_pcn(session, principal) != pcn_code:
        return Decision(
            False,
            f"PCN {pcn_code}'s worklists are for its MDT: you act for "
            f"{principal.organisation_code}, which is neither the PCN nor one of its practices",
        )
    return permitted


# ---- re-identification ---------------------------------------------------------------------------


def identity_file(settings: Settings) -> Path:
    """The identifiable ``patients`` extract the warehouse was loaded from (a Parquet file or a
    folder of parts): the only link from the pseudonymous key to the NHS number."""
    return settings.data_dir / "extract" / "patients.parquet"


def pcn_members(
    settings: Settings, definition: CohortDefinition, pcn_code: str
) -> tuple[dt.date, list[tuple[int, str]]]:
    """The cohort's members registered in the PCN on the marts' date, as (pseudonymous id,
    practice code), and that date."""
    from integrated_care.health.cohort_query import members, open_sources

    with open_sources(settings) as sources:
        found = members(definition, sources)
        rows = (
            found.filter(found.pcn_code == pcn_code)
            .select("patient_id", "practice_code")
            .to_pyarrow()
            .to_pylist()
        )
        as_of = sources.as_of
    return as_of, [(int(r["patient_id"]), r["practice_code"]) for r in rows]


def nhs_numbers(settings: Settings, pseudonymous_ids: Iterable[int]) -> dict[int, str]:
    """NHS number by pseudonymous id, from the identifiable extract."""
    import duckdb
    import pyarrow as pa

    path = identity_file(settings)
    if not path.exists():
        raise MdtError(
            f"the identifiable patients extract ({path}) is not here, so the cohort cannot be "
            "re-identified"
        )
    target = path / "*.parquet" if path.is_dir() else path
    wanted = pa.table({"patient_id": pa.array(sorted(set(pseudonymous_ids)), pa.int64())})
    with duckdb.connect() as con:
        con.register("wanted", wanted)
        rows = con.execute(
            "SELECT p.patient_id, p.nhs_number FROM read_parquet(?) p "
            "JOIN wanted w ON w.patient_id = p.patient_id",
            [str(target)],
        ).fetchall()
    return {int(pid): str(nhs) for pid, nhs in rows}


def record_patients(session: Session, numbers: Iterable[str]) -> dict[str, str]:
    """The shared care record's Patient id by NHS number (patients not in the record are left
    out), through the identifier index."""
    found: dict[str, str] = {}
    wanted = sorted(set(numbers))
    for start in range(0, len(wanted), CHUNK):
        chunk = wanted[start : start + CHUNK]
        query = (
            select(SearchToken.code, SearchToken.resource_id)
            .join(
                RecordResource,
                (RecordResource.resource_type == "Patient")
                & (RecordResource.id == SearchToken.resource_id),
            )
            .where(
                SearchToken.resource_type == "Patient",
                SearchToken.param == "identifier",
                SearchToken.system == NHS_NUMBER_SYSTEM,
                SearchToken.code.in_(chunk),
                RecordResource.deleted.is_(False),
            )
        )
        found.update({code: rid for code, rid in session.execute(query)})
    return found


def create_worklist(
    session: Session,
    settings: Settings,
    principal: Principal,
    cohort_name: str,
    pcn_code: str,
    *,
    version: str | None = None,
    title: str | None = None,
    client: str | None = None,
) -> MdtWorklist:
    """Snapshot a cohort's members in the PCN as a worklist of re-identified patients.

    Raises :class:`Refused` (the caller audits it in its own transaction) or :class:`MdtError`.
    """
    from integrated_care.health.cohort_store import find_cohort
    from integrated_care.health.cohorts import CohortError

    decision = may_reidentify(session, principal, pcn_code)
    if not decision.allowed:
        raise Refused(decision.reason)
    try:
        entry = find_cohort(session, cohort_name, version)
    except CohortError as e:
        raise MdtError(f"cohort: {e}") from None
    as_of, people = pcn_members(settings, entry.definition, pcn_code)
    numbers = nhs_numbers(settings, (pid for pid, _ in people))
    patients = record_patients(session, numbers.values())
    worklist = MdtWorklist(
        pcn_code=pcn_code,
        title=(title or "").strip() or entry.title,
        cohort_name=entry.name,
        cohort_version=entry.version,
        cohort_title=entry.title,
        as_of=as_of,
        cohort_members=len(people),
        created_by=principal.username,
        created_by_organisation=principal.organisation_code,
    )
    session.add(worklist)
    session.flush()
    now = utcnow()
    items = [
        MdtWorklistEntry(
            worklist_id=worklist.id,
            patient_id=patients[numbers[pid]],
            practice_code=practice,
            status="open",
            updated_at=now,
            updated_by=principal.username,
        )
        for pid, practice in sorted(people)
        if numbers.get(pid) in patients
    ]
    session.add_all(items)
    session.flush()
    session.add_all(_event(item, "added", principal.username, at=now) for item in items)
    session.flush()
    in_record = len(items)
    record_event(
        session,
        actor=principal.username,
        organisation=principal.organisation_code,
        action="mdt.reidentify",
        outcome="success",
        record_type="mdt_worklist",
        record_id=str(worklist.id),
        reason=decision.reason,
        detail={
            "cohort": entry.name,
            "version": entry.version,
            "pcn": pcn_code,
            "as_of": as_of.isoformat(),
            "cohort_members": len(people),
            "reidentified": in_record,
        },
        client=client,
    )
    return worklist


# ---- working the list ----------------------------------------------------------------------------


def _event(entry: MdtWorklistEntry, kind: str, by: str, **fields: Any) -> MdtEntryEvent:
    return MdtEntryEvent(
        entry_id=entry.id,
        kind=kind,
        status=entry.status,
        by=by,
        **{"at": utcnow(), **fields},
    )


def _audit(session: Session, actor: Actor, action: str, entry: MdtWorklistEntry, **detail: Any):  # type: ignore[no-untyped-def]
    record_event(
        session,
        actor=actor.username,
        organisation=actor.organisation,
        action=f"mdt.{action}",
        outcome="success",
        record_type="mdt_worklist_entry",
        record_id=str(entry.id),
        detail={"worklist": entry.worklist_id, "patient": entry.patient_id, **detail},
        client=actor.client,
    )


def discuss(session: Session, actor: Actor, entry_id: int, note: str) -> MdtEntryEvent:
    """Record what the MDT said about the patient."""
    entry = get_entry(session, entry_id)
    text = note.strip()
    if not text:
        raise MdtError("note: write what the MDT discussed")
    if entry.status == "open":
        entry.status = "in_progress"
    entry.updated_at, entry.updated_by = utcnow(), actor.username
    event = _event(entry, "discussed", actor.username, note=text)
    session.add(event)
    _audit(session, actor, "discuss", entry)
    return event


def assign(
    session: Session,
    actor: Actor,
    entry_id: int,
    *,
    action: str,
    owner: str,
    due_date: dt.date | None,
    today: dt.date,
) -> MdtWorklistEntry:
    """Give the patient an action, an owner (a user of the platform) and a due date."""
    entry = get_entry(session, entry_id)
    what = action.strip()
    if not what:
        raise MdtError("action: say what is to be done")
    if session.scalar(select(User.id).where(User.username == owner, User.active)) is None:
        raise MdtError(f"owner: {owner!r} is not an active user of the platform")
    if due_date is not None and due_date < today:
        raise MdtError(f"due_date: {due_date} is in the past")
    entry.action, entry.owner, entry.due_date = what, owner, due_date
    if entry.status != "done":
        entry.status = "in_progress"
    entry.updated_at, entry.updated_by = utcnow(), actor.username
    session.add(
        _event(entry, "assigned", actor.username, action=what, owner=owner, due_date=due_date)
    )
    _audit(session, actor, "assign", entry, owner=owner, due=str(due_date or ""))
    return entry


def set_status(
    session: Session, actor: Actor, entry_id: int, status: str, note: str | None = None
) -> MdtWorklistEntry:
    """Move the entry to open, in progress or done (done ends the MDT's relationship)."""
    if status not in ENTRY_STATUSES:
        raise MdtError(f"status: {status!r} is not one of {', '.join(ENTRY_STATUSES)}")
    entry = get_entry(session, entry_id)
    if entry.status == status:
        return entry
    entry.status = status
    entry.done_at = utcnow() if status == "done" else None
    entry.updated_at, entry.updated_by = utcnow(), actor.username
    session.add(_event(entry, "status", actor.username, note=(note or "").strip() or None))
    _audit(session, actor, "status", entry, status=status)
    return entry


# ---- reading ------------------------------------------------------------------------------------


def get_worklist(session: Session, worklist_id: int) -> MdtWorklist:
    found = session.get(MdtWorklist, worklist_id)
    if found is None:
        raise NotFound(f"no worklist {worklist_id}")
    return found


def get_entry(session: Session, entry_id: int) -> MdtWorklistEntry:
    found = session.get(MdtWorklistEntry, entry_id)
    if found is None:
        raise NotFound(f"no worklist entry {entry_id}")
    return found


def worklists(session: Session, pcn_code: str) -> list[MdtWorklist]:
    query = select(MdtWorklist).where(MdtWorklist.pcn_code == pcn_code)
    return list(session.scalars(query.order_by(MdtWorklist.created_at.desc(), MdtWorklist.id)))


def worklist_entries(session: Session, worklist_id: int) -> list[MdtWorklistEntry]:
    query = select(MdtWorklistEntry).where(MdtWorklistEntry.worklist_id == worklist_id)
    return list(session.scalars(query.order_by(MdtWorklistEntry.id)))


def entry_history(session: Session, entry_id: int) -> list[MdtEntryEvent]:
    query = select(MdtEntryEvent).where(MdtEntryEvent.entry_id == entry_id)
    return list(session.scalars(query.order_by(MdtEntryEvent.at, MdtEntryEvent.id)))


def status_counts(entries: Iterable[MdtWorklistEntry]) -> dict[str, int]:
    """Entries by status, every status shown (zeros included)."""
    counted = Counter(e.status for e in entries)
    return {s: counted.get(s, 0) for s in ENTRY_STATUSES}


def actions_by_owner(entries: Iterable[MdtWorklistEntry]) -> list[dict[str, Any]]:
    """Assigned actions by owner and status, for the chart."""
    counted = Counter((e.owner, e.status) for e in entries if e.owner)
    return [
        {"owner": owner, "status": STATUS_LABELS[status], "actions": n}
        for (owner, status), n in sorted(counted.items())
    ]


def progress(session: Session, pcn_code: str) -> list[dict[str, Any]]:
    """Per worklist and day with a change: entries still to finish and entries done, at the end
    of that day (from the append-only history, so earlier days are as they were)."""
    query = (
        select(MdtWorklist.title, MdtWorklist.id, MdtEntryEvent)
        .join(MdtWorklistEntry, MdtWorklistEntry.worklist_id == MdtWorklist.id)
        .join(MdtEntryEvent, MdtEntryEvent.entry_id == MdtWorklistEntry.id)
        .where(MdtWorklist.pcn_code == pcn_code, MdtEntryEvent.kind.in_(("added", "status")))
        .order_by(MdtWorklist.id, MdtEntryEvent.at, MdtEntryEvent.id)
    )
    out: list[dict[str, Any]] = []
    state: dict[int, dict[int, str]] = {}
    last_day: dict[int, dt.date] = {}
    titles: dict[int, str] = {}
    for title, worklist_id, event in session.execute(query):
        titles[worklist_id] = f"{title} (#{worklist_id})"
        day = event.at.date()
        if worklist_id in last_day and last_day[worklist_id] != day:
            out.extend(_day_rows(titles[worklist_id], last_day[worklist_id], state[worklist_id]))
        state.setdefault(worklist_id, {})[event.entry_id] = event.status
        last_day[worklist_id] = day
    for worklist_id, day in last_day.items():
        out.extend(_day_rows(titles[worklist_id], day, state[worklist_id]))
    return out


def _day_rows(worklist: str, day: dt.date, statuses: dict[int, str]) -> list[dict[str, Any]]:
    done = sum(1 for s in statuses.values() if s == "done")
    return [
        {"worklist": worklist, "date": day.isoformat(), "state": "Done", "patients": done},
        {
            "worklist": worklist,
            "date": day.isoformat(),
            "state": "Still to finish",
            "patients": len(statuses) - done,
        },
    ]


def pcn_name(session: Session, pcn_code: str) -> str:
    return session.scalar(select(FootprintPcn.name).where(FootprintPcn.code == pcn_code)) or (
        pcn_code
    )


def mdt_users(session: Session, pcn_code: str) -> list[User]:
    """Active users acting for a practice of the PCN: the people actions are usually given to."""
    practices = select(FootprintPractice.code).where(FootprintPractice.pcn_code == pcn_code)
    query = select(User).where(User.active, User.organisation_code.in_(practices))
    return list(session.scalars(query.order_by(User.display_name)))


# ---- the MDT caseload relationship ------------------------------------------------------------


def mdt_caseload(principal: Principal) -> Select:
    """Patients on open (not done) entries of worklists of the PCN whose practice the principal
    acts for (or which they act for): the MDT's legitimate relationship, ending when the work is
    done."""
    code = principal.organisation_code
    practice_pcn = select(FootprintPractice.pcn_code).where(FootprintPractice.code == code)
    return (
        select(MdtWorklistEntry.patient_id)
        .join(MdtWorklist, MdtWorklist.id == MdtWorklistEntry.worklist_id)
        .where(
            MdtWorklistEntry.status != "done",
            or_(MdtWorklist.pcn_code.in_(practice_pcn), MdtWorklist.pcn_code == code),
        )
    )


register_relationship_source(mdt_caseload, "mdt-caseload")
