"""Demo MDT worklists and shared care plans, made after the shared care record and the marts.

As the demo GP (whose practice's PCN is the one whose record is loaded), through the same
service functions as the pages: two worklists from shipped cohorts, re-identified for the PCN
(audited), a few patients discussed and given actions (one done), and a few shared care plans
with partners' activities and review dates (one overdue, one due soon) written into the record.
Repeatable: a cohort with a worklist already, or a patient with a care plan, is left alone.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from integrated_care.accounts.policy import Principal
from integrated_care.coordination import care_plans as cp
from integrated_care.coordination import mdt
from integrated_care.coordination.mdt_models import MdtWorklist
from integrated_care.footprint.models import Organisation
from integrated_care.record.service import Caller
from integrated_care.runtime import Runtime

DEMO_GP, DEMO_NURSE = "gp", "nurse"
# (action, owner: "gp" or "nurse", due in days)
# In order of preference; the demo makes the first two with members in the PCN.
COHORTS = (
    "severe-frailty-no-medication-review",
    "top-risk-not-seen-6-months",
    "smi-no-health-check",
    "hypertension-no-bp-reading",
)
ACTIONS = (
    ("Structured medication review with the PCN pharmacist", "gp", 14),
    ("Home visit: falls risk and frailty assessment", "nurse", 10),
    ("Invite for a long-term conditions review", "gp", 21),
)


def _principal(runtime: Runtime, username: str) -> Principal | None:
    from integrated_care.accounts.services import get_user, principal_for_user

    with runtime.sessions() as session:
        user = get_user(session, username)
        return principal_for_user(session, user, auth_method="cli") if user else None


def _cohorts_with_members(runtime: Runtime, pcn: str) -> list[str]:
    """The first two cohorts of COHORTS with members in the PCN, from the ``cohorts`` mart (a
    small demo population may have nobody in some)."""
    from integrated_care.health.marts import MartsNotBuilt, open_marts

    try:
        with open_marts(runtime.settings) as con:
            if "cohorts" not in con.list_tables():
                return list(COHORTS[:2])
            mart = con.table("cohorts")
            rows = (
                mart.filter(mart.pcn_code == pcn)
                .group_by("cohort")
                .aggregate(members=mart.members.sum())
                .to_pyarrow()
                .to_pylist()
            )
    except MartsNotBuilt:
        return []
    members = {r["cohort"]: r["members"] for r in rows}
    return [c for c in COHORTS if members.get(c, 0) > 0][:2]


def _worklists(
    runtime: Runtime, gp: Principal, owners: dict[str, str], pcn: str, today: dt.date
) -> list[int]:
    """Make the missing worklists and work the first few entries of the first one."""
    made: list[int] = []
    with runtime.transaction() as session:
        have = set(
            session.scalars(select(MdtWorklist.cohort_name).where(MdtWorklist.pcn_code == pcn))
        )
        for cohort in _cohorts_with_members(runtime, pcn):
            if cohort not in have:
                made.append(mdt.create_worklist(session, runtime.settings, gp, cohort, pcn).id)
    if not made:
        return []
    actor = mdt.Actor(gp.username, gp.organisation_code, "ics-demo")
    with runtime.transaction() as session:
        entries = mdt.worklist_entries(session, made[0])
        for entry, (action, owner, days) in zip(entries, ACTIONS, strict=False):
            mdt.discuss(session, actor, entry.id, "Discussed at the PCN MDT meeting")
            mdt.assign(
                session,
                actor,
                entry.id,
                action=action,
                owner=owners[owner],
                due_date=today + dt.timedelta(days=days),
                today=today,
            )
        worked = entries[: len(ACTIONS)]
        if worked:
            # Done ends the MDT relationship: pick the GP's own patient, whose record stays open.
            own = next((e for e in worked if e.practice_code == gp.organisation_code), worked[0])
            mdt.set_status(session, actor, own.id, "done", "Review done; no change")
    return made


def _partners(runtime: Runtime, nurse_username: str) -> list[str]:
    """The demo nurse's organisation and a voluntary organisation, to share the plans with."""
    nurse = _principal(runtime, nurse_username)
    with runtime.sessions() as session:
        vcse = session.scalar(
            select(Organisation.org_code)
            .where(Organisation.org_type == "vcse")
            .order_by(Organisation.org_code)
        )
    return [code for code in (nurse.organisation_code if nurse else None, vcse) if code]


def _care_plans(
    runtime: Runtime, gp: Principal, nurse: str, patients: list[str], today: dt.date
) -> tuple[int, list[str]]:
    caller = Caller(gp, base="http://localhost/fhir", client="ics-demo")
    partners = _partners(runtime, nurse) or [gp.organisation_code]
    reviews = (-5, 12, 90)  # days from today: overdue, due soon, later
    written, problems = 0, []
    for patient, review in zip(patients, reviews, strict=False):
        reply, existing = cp.patient_plans(runtime, caller, patient)
        if reply.status != 200 or existing:
            continue
        plan = cp.CarePlanIn(
            title="Staying well at home",
            description="Agreed at the PCN MDT with the person and their family",
            start=today - dt.timedelta(days=60),
            review_date=today + dt.timedelta(days=review),
            goals=[
                cp.GoalIn(
                    description="Walk to the local shops again", due=today + dt.timedelta(days=120)
                ),
                cp.GoalIn(description="Feel less lonely: see friends every week"),
            ],
            activities=[
                cp.ActivityIn(
                    description="Strength and balance programme at home",
                    organisation=partners[0],
                    status="in-progress",
                ),
                cp.ActivityIn(
                    description="Weekly befriending visits",
                    organisation=partners[-1],
                    status="scheduled",
                ),
                cp.ActivityIn(description="Medication review", organisation=gp.organisation_code),
            ],
        )
        created = cp.create(runtime, caller, patient, plan)
        if created.status == 201:
            written += 1
        else:
            problems.append(cp.problem(created))
    return written, problems


def load_mdt_demo(
    runtime: Runtime,
    today: dt.date | None = None,
    *,
    gp_username: str = DEMO_GP,
    nurse_username: str = DEMO_NURSE,
) -> str:
    """Worklists for the demo GP's PCN and a few shared care plans; a one-line summary."""
    today = today or dt.datetime.now(dt.UTC).date()
    gp = _principal(runtime, gp_username)
    if gp is None:
        return f"no demo GP ({gp_username}): nothing made"
    with runtime.sessions() as session:
        pcn = mdt.mdt_pcn(session, gp)
    if pcn is None:
        return f"{gp.organisation_code} is in no PCN: no MDT worklists"
    owners = {"gp": gp_username, "nurse": nurse_username}
    made = _worklists(runtime, gp, owners, pcn, today)
    with runtime.sessions() as session:
        lists = mdt.worklists(session, pcn)
        entries = [e for w in lists for e in mdt.worklist_entries(session, w.id)]
    # Open entries: the MDT caseload lets the GP open those records whichever practice they are at.
    patients = list(dict.fromkeys(e.patient_id for e in entries if e.status != "done"))
    written, problems = _care_plans(runtime, gp, nurse_username, patients[:3], today)
    summary = (
        f"{len(made)} MDT worklists made for PCN {pcn} ({len(entries):,} entries on "
        f"{len(lists)} lists), {written} shared care plans written"
    )
    return summary + (f"; not written: {'; '.join(problems)}" if problems else "")
