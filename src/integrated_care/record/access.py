"""The one access decision of the shared care record, consulted by every FHIR interaction.

:func:`authorise` applies, in order:

1. the platform permission: ``record:read`` for reading, searching, history and $everything,
   ``record:write`` for writes (roles in accounts/data/roles.json), narrowed by an API token's
   scopes; SMART scopes (smart.py) imply the permission and narrow it per resource type;
   writing a Consent also needs ``consent:manage``;
2. a legitimate relationship with the patient (relationships.py), unless the patient dissented
   from sharing (consent.py), in which case only their registered practice qualifies;
3. break-glass (break_glass.py): without a relationship, a user holding ``record:break-glass``
   who gives a reason (``X-Break-Glass-Reason``) opens the record for ``DURATION``, audited and
   listed for the Caldicott guardian;
4. sealed information (sensitive.py): a sensitive resource is refused to organisations other
   than the one that recorded it, unless the patient consented to share its categories.
   Break-glass does not unseal it.

Searches are restricted in SQL to patients the user may see (:func:`visible_condition`) and
sealed resources are withheld from the page (:func:`withhold_sealed`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any

import orjson
from sqlalchemy import Select, and_, bindparam, func, or_, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from integrated_care.accounts import policy
from integrated_care.accounts.policy import Decision, Principal
from integrated_care.record import break_glass, consent, relationships, sensitive, smart
from integrated_care.record.models import RecordResource

READ_INTERACTIONS = frozenset(
    {"read", "vread", "search-type", "history-instance", "history-type", "everything"}
)
WRITE_INTERACTIONS = frozenset({"create", "update", "delete"})
R = RecordResource


def permission_for(interaction: str) -> str:
    if interaction in READ_INTERACTIONS:
        return "record:read"
    if interaction in WRITE_INTERACTIONS:
        return "record:write"
    raise ValueError(f"unknown FHIR interaction {interaction!r}")


@dataclass(frozen=True)
class AccessContext:
    """Facts about the request the rules decide on (break-glass reason, purpose)."""

    break_glass_reason: str | None = None
    purpose: str | None = None


def effective_principal(principal: Principal) -> Principal:
    """The principal with SMART scopes replaced by the platform permissions they imply."""
    scopes = smart.smart_scopes(principal.scopes)
    if not scopes or principal.scopes is None:
        return principal
    platform = {s for s in principal.scopes if not smart.is_smart_scope(s)}
    return replace(principal, scopes=frozenset(platform | smart.implied_permissions(scopes)))


def _permission(
    principal: Principal,
    interaction: str,
    resource_type: str,
    patient_id: str | None,
    resource: dict[str, Any] | None,
    resource_id: str | None,
) -> Decision:
    attributes: dict[str, Any] = {"interaction": interaction, "patient_id": patient_id}
    if resource is not None:
        attributes["resource"] = resource
    decision = policy.decide(
        effective_principal(principal),
        permission_for(interaction),
        resource=policy.Resource(
            record_type=resource_type,
            record_id=resource_id or (resource or {}).get("id"),
            attributes=attributes,
        ),
    )
    if not decision.allowed:
        return decision
    scopes = smart.smart_scopes(principal.scopes)
    if scopes:
        narrowed = smart.decide(scopes, interaction, resource_type, patient_id)
        if not narrowed.allowed:
            return narrowed
    if resource_type == "Consent" and interaction in WRITE_INTERACTIONS:
        manage = policy.decide(effective_principal(principal), "consent:manage")
        if not manage.allowed:
            return Decision(False, f"recording consent needs consent:manage: {manage.reason}")
    return decision


def _new_patient(session: Session, principal: Principal, patient_id: str) -> bool:
    # A new patient, or the record of a patient not stored yet (a transaction creating a
    # patient and their record together; a read that will answer 404): nothing to protect.
    memo = _memo(session, principal)
    if memo is not None:
        return not memo.fact(session, "stored", patient_id)
    stored = select(R.id).where(R.resource_type == "Patient", R.id == patient_id)
    return session.execute(stored).first() is None


def _is_registered(session: Session, principal: Principal, patient_id: str) -> bool:
    memo = _memo(session, principal)
    if memo is not None:
        return bool(memo.fact(session, "registered", patient_id))
    return relationships.is_registered(session, principal, patient_id)


def _preferences(session: Session, principal: Principal, patient_id: str) -> consent.Preferences:
    memo = _memo(session, principal)
    if memo is not None:
        return memo.fact(session, "preferences", patient_id)  # type: ignore[no-any-return]
    return consent.preferences(session, patient_id)


def _basis(session: Session, principal: Principal, patient_id: str) -> str | None:
    memo = _memo(session, principal)
    if memo is not None:
        return memo.fact(session, "basis", patient_id)  # type: ignore[no-any-return]
    return relationships.relationship_basis(session, principal, patient_id, except_registered=True)


def _relationship(
    session: Session,
    principal: Principal,
    interaction: str,
    patient_id: str,
    context: AccessContext | None,
) -> Decision:
    """May the principal, not registering the patient, open this patient's record at all?"""
    dissent = _preferences(session, principal, patient_id).dissent
    basis = None if dissent else _basis(session, principal, patient_id)
    if basis:
        return Decision(True, f"care relationship: {basis}")
    if break_glass.active(session, principal.username, patient_id) is not None:
        return Decision(True, "break-glass in force")
    why = (
        "the patient has asked that their record is not shared beyond their registered practice"
        if dissent
        else f"{principal.organisation_code} has no care relationship with this patient "
        "(registration, open episode, referral, care team or MDT caseload)"
    )
    reason = (context.break_glass_reason or "").strip() if context else ""
    if not reason:
        return Decision(
            False, f"{why}; in an emergency a clinician may break the glass by giving a reason"
        )
    may = policy.decide(effective_principal(principal), "record:break-glass")
    if not may.allowed:
        return Decision(False, f"{why}; and you may not break the glass: {may.reason}")
    break_glass.start(session, principal, patient_id, reason, interaction)
    return Decision(True, "break-glass: " + reason[:200])


def sealed_refusal(
    session: Session, principal: Principal, resource: dict[str, Any] | None, patient_id: str | None
) -> Decision | None:
    """A refusal when `resource` is sealed from the principal's organisation, else None."""
    categories = sensitive.categories(resource)
    if not categories:
        return None
    recorder = sensitive.recorded_by(resource)
    if recorder == principal.organisation_code:
        return None
    if recorder is None and patient_id and _is_registered(session, principal, patient_id):
        return None  # not stamped (e.g. bulk-loaded): the registered practice holds it
    if patient_id:
        shared = _preferences(session, principal, patient_id).shared_categories
        if categories <= shared:
            return None
    return Decision(
        False,
        f"this information ({', '.join(sorted(categories))}) is sealed to the organisation "
        "that recorded it, and the patient has not consented to share it",
    )


def authorise(
    principal: Principal | None,
    interaction: str,
    resource_type: str,
    patient_id: str | None = None,
    resource: dict[str, Any] | None = None,
    *,
    resource_id: str | None = None,
    session: Session | None = None,
    context: AccessContext | None = None,
) -> Decision:
    """May `principal` do `interaction` on `resource_type` (in `patient_id`'s record, on
    `resource` when known)? `session` lets the rules look up relationships and consent; a
    break-glass is recorded in it."""
    if principal is None:
        return Decision(False, "not signed in")
    decision = _permission(principal, interaction, resource_type, patient_id, resource, resource_id)
    if not decision.allowed or session is None or not patient_id:
        return decision
    if _is_registered(session, principal, patient_id):
        related = Decision(True, "the patient is registered at your organisation")
    elif _new_patient(session, principal, patient_id):
        return decision
    else:
        related = _relationship(session, principal, interaction, patient_id, context)
    if not related.allowed:
        return related
    stored = resource
    if interaction == "update" and resource_id:
        from integrated_care.record import store

        row = store.current(session, resource_type, resource_id)
        stored = orjson.loads(row.content) if row is not None and row.content else resource
    for candidate in {id(stored): stored, id(resource): resource}.values():
        sealed = sealed_refusal(session, principal, candidate, patient_id)
        if sealed is not None:
            return sealed
    return Decision(True, f"{decision.reason}; {related.reason}")


# --- a transaction bundle's memo of access facts -----------------------------------------------

_MEMO = "integrated_care.record.access.memo"
# Resource types every memo'd fact may be read from, whatever the relationship sources:
# registration (Patient, and Organization for the ODS code), a stored patient, consent.
ACCESS_TYPES = frozenset({"Patient", "Organization", "Consent"})


class AccessMemo:
    """The per-patient facts the rules look up (registered at the caller's organisation?
    stored? consent and dissent? related, by which source?), remembered through one
    transaction bundle for its caller, so a bundle of many entries for the same patients asks
    once, and for all of the bundle's patients in one query per fact.

    Valid only inside the bundle's one database transaction (which holds the write lock), and
    only until the bundle itself writes a resource of a type the facts are read from
    (:attr:`types_read`; every type when a relationship source reads the record without
    saying which): :meth:`wrote` then forgets them all, so later entries see earlier
    entries' writes. Break-glass is not remembered: it is asked for each time."""

    def __init__(self, principal: Principal, patient_ids: Iterable[str]) -> None:
        self.principal = principal
        self.patients = set(patient_ids)
        read = relationships.resource_types_read(principal)
        self.types_read: frozenset[str] | None = None if read is None else read | ACCESS_TYPES
        self._facts: dict[str, dict[str, Any]] = {}

    def wrote(self, resource_type: str) -> None:
        """The bundle wrote a `resource_type`: forget what it may have changed."""
        if self.types_read is None or resource_type in self.types_read:
            self._facts.clear()

    def fact(self, session: Session, kind: str, patient_id: str) -> Any:
        known = self._facts.setdefault(kind, {})
        if patient_id not in known:
            wanted = {p for p in self.patients if p not in known} | {patient_id}
            known.update(_LOOKUPS[kind](session, self.principal, wanted))
        return known[patient_id]


def _stored_patients(session: Session, _principal: Principal, ids: set[str]) -> dict[str, bool]:
    ordered = sorted(ids)
    found: set[str] = set()
    for start in range(0, len(ordered), 500):
        chunk = ordered[start : start + 500]
        found.update(session.scalars(_STORED_AMONG, {"ids": chunk}))
    return {p: p in found for p in ids}


_STORED_AMONG = select(R.id).where(
    R.resource_type == "Patient", R.id.in_(bindparam("ids", expanding=True))
)


def _registered_facts(session: Session, principal: Principal, ids: set[str]) -> dict[str, bool]:
    registered = relationships.registered_among(session, principal, ids)
    return {p: p in registered for p in ids}


_LOOKUPS: dict[str, Callable[[Session, Principal, set[str]], dict[str, Any]]] = {
    "stored": _stored_patients,
    "registered": _registered_facts,
    "preferences": lambda session, _principal, ids: consent.preferences_among(session, ids),
    "basis": lambda session, principal, ids: relationships.bases_among(
        session, principal, ids, except_registered=True
    ),
}


@contextmanager
def remembering(
    session: Session, principal: Principal | None, patient_ids: Iterable[str]
) -> Iterator[AccessMemo | None]:
    """Within the block, :func:`authorise` for `principal` in `session` remembers per-patient
    facts (see :class:`AccessMemo`); the caller tells the memo of each write it makes."""
    if principal is None:
        yield None
        return
    memo = AccessMemo(principal, patient_ids)
    session.info[_MEMO] = memo
    try:
        yield memo
    finally:
        session.info.pop(_MEMO, None)


def _memo(session: Session, principal: Principal) -> AccessMemo | None:
    memo = session.info.get(_MEMO)
    return memo if memo is not None and memo.principal == principal else None


# --- searches ---------------------------------------------------------------------------------


def visible_condition(principal: Principal, column: Any = R.patient_id) -> ColumnElement[bool]:
    """SQL: the row's patient is one whose record the principal may see (or it has none).

    Built once per principal, column and set of relationship sources, and reused: building it
    costs more than running it for one patient's search."""
    key = (principal, id(column), tuple(relationships.sources()))
    with _visible_lock:
        found = _visible.get(key)
    if found is None or found[0] is not column:
        found = (column, _visible_condition(principal, column))
        with _visible_lock:
            if len(_visible) >= 1024:
                _visible.clear()
            _visible[key] = found
    return found[1]


_visible: dict[tuple[Any, ...], tuple[Any, ColumnElement[bool]]] = {}
_visible_lock = threading.Lock()


def _visible_condition(principal: Principal, column: Any) -> ColumnElement[bool]:
    registered = relationships.registered(principal)
    glass = break_glass.active_patients(principal.username)
    others = relationships.related_patients(principal, except_registered=True)
    allowed = [column.is_(None), column.in_(registered), column.in_(glass)]
    if others is not None:
        allowed.append(and_(column.in_(others), column.not_in(consent.dissenting_patients())))
    return or_(*allowed)


def may_see(session: Session, principal: Principal, patient_id: str) -> bool:
    """:func:`visible_condition` for one patient, by a few indexed lookups: registered at the
    principal's organisation, related to it without dissent, or break-glass in force."""
    if _is_registered(session, principal, patient_id):
        return True
    if break_glass.active(session, principal.username, patient_id) is not None:
        return True
    if _preferences(session, principal, patient_id).dissent:
        return False
    return _basis(session, principal, patient_id) is not None


def visible_patients(session: Session, principal: Principal, patient_ids: set[str]) -> set[str]:
    """Which of these patients' records the principal may see."""
    found: set[str] = set()
    ids = sorted(patient_ids)
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        query: Select = select(R.id).where(
            R.resource_type == "Patient", R.id.in_(chunk), visible_condition(principal, R.id)
        )
        found |= set(session.scalars(query))
    return found


def withhold(
    session: Session, principal: Principal, rows: list[Any], *, check_patients: bool = True
) -> list[Any]:
    """The rows (with ``patient_id`` and ``content``) the principal may see: of visible patients
    and not sealed from them."""
    patients = {r.patient_id for r in rows if r.patient_id}
    visible = visible_patients(session, principal, patients) if check_patients else patients
    kept = []
    for row in rows:
        if row.patient_id and row.patient_id not in visible:
            continue
        # Only a resource that may be sensitive is parsed. (A refusing Decision is falsy:
        # compare with None.)
        if sensitive.may_be_sensitive(row.content):
            resource = orjson.loads(row.content)
            if (
                sensitive.categories(resource)
                and sealed_refusal(session, principal, resource, row.patient_id) is not None
            ):
                continue
        kept.append(row)
    return kept


def count_visible(session: Session, query: Select) -> int:
    counted = select(func.count()).select_from(query.with_only_columns(R.id).subquery())
    return session.scalar(counted) or 0


def run_search(session: Session, principal: Principal, request: Any) -> Any:
    """search.run restricted to what the principal may see: matches only of patients they may
    see (in SQL, so total and paging are right), then sealed resources and included resources
    of other patients withheld from the page (the total then counts only what was withheld
    on this page).

    A search of one patient's record whom the principal may see (``Encounter?patient=X``, the
    usual case) is restricted to that record alone; one confined to a patient by another
    reference is restricted by that patient first, so the organisation's whole list of
    related patients is consulted only for matches outside X's compartment. When the page is
    not full the total is known without counting."""
    from integrated_care.record import search

    own = request.compartment_patient()
    if own is not None and may_see(session, principal, own):
        # Every match is in X's record: nothing else to restrict (and a statement this small
        # is far cheaper to run than one carrying the organisation's whole visibility rule).
        restriction: ColumnElement[bool] = R.patient_id == own
    else:
        restriction = visible_condition(principal)
        confined = request.patient_ids()
        if len(confined) == 1 and may_see(session, principal, confined[0]):
            restriction = or_(R.patient_id == confined[0], restriction)
    query = search.matching(session, request).where(restriction)
    matches: list[Any] = []
    if request.count > 0:
        page = search._sorted(query, request).limit(request.count).offset(request.offset)
        matches = list(session.scalars(page.execution_options(populate_existing=True)))
    if request.count > 0 and len(matches) < request.count and (matches or not request.offset):
        total = request.offset + len(matches)
    else:
        total = count_visible(session, query)
    kept = withhold(session, principal, matches, check_patients=False)
    included = withhold(session, principal, search._included(session, request, kept))
    return search.SearchResult(kept, included, total - (len(matches) - len(kept)))
