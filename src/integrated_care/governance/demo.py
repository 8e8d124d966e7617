"""The demo ICS's governance: a partnership board seated on the footprint's real organisations
(the ICB, trusts, a local authority, primary care, the voluntary sector), a place committee for
each place, two past meetings with published papers, votes, decisions, minutes and actions, one
upcoming meeting, and registers of interests, one of which conflicts with an upcoming decision;
and the public voice (:mod:`integrated_care.governance.demo_voice`).

The people are fictional (data/demo_board.json); meetings are dated relative to the day the demo
is built (data/demo_meetings.json). Everything goes through the service functions, so the demo's
audit trail is the one a real board would leave.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time, timedelta
from importlib import resources
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from integrated_care.governance import conflicts, services
from integrated_care.governance.demo_voice import load_voice_demo
from integrated_care.governance.models import Body, Item, Meeting, Member
from integrated_care.governance.services import Actor

ACTOR = Actor("ics demo")
LONDON = ZoneInfo("Europe/London")


def _data(name: str) -> dict[str, Any]:
    return json.loads((resources.files(__package__) / "data" / name).read_text())


class _Footprint:
    """The footprint's organisations, picked by type the way the demo users are."""

    def __init__(self, session: Session) -> None:
        from integrated_care.footprint.services import list_organisations, list_places

        self.orgs = sorted(list_organisations(session), key=lambda o: o.org_code)
        self.places = list_places(session)

    def pick(self, acts_for: str, place: str | None = None) -> str | None:
        for org_type in filter(None, acts_for.split("|")):
            found = [
                o
                for o in self.orgs
                if o.org_type == org_type and (place is None or o.place_code == place)
            ]
            if found:
                return found[0].org_code
        return None

    def name(self, code: str | None) -> str:
        return next((o.name for o in self.orgs if o.org_code == code), "")


def _user_id(session: Session, username: str | None) -> int | None:
    if not username:
        return None
    from integrated_care.accounts.services import get_user

    user = get_user(session, username)
    return user.id if user else None


def _board(session: Session, fp: _Footprint, spec: dict[str, Any], start: date) -> Body:
    icb = fp.pick("icb")
    body = services.create_body(
        session,
        ACTOR,
        name=fp.name(icb) or "Integrated care board",
        level="system",
        **{k: spec[k] for k in ("kind", "quorum_voting_members", "quorum_roles", "voting_roles")},
        clear_days=spec["clear_days"],
        purpose=spec["purpose"],
        terms_of_reference=spec["terms_of_reference"],
        delegations=spec["delegations"],
    )
    for seat in spec["members"]:
        services.add_member(
            session,
            ACTOR,
            body_id=body.id,
            name=seat["name"],
            job_title=seat["job_title"],
            role=seat["role"],
            org_code=fp.pick(seat["acts_for"]),
            nhse_approval=seat.get("nhse_approval"),
            term_start=start,
            term_end=start + timedelta(days=3 * 365),
            user_id=_user_id(session, seat.get("user")),
        )
    return body


def _place_committees(
    session: Session, fp: _Footprint, spec: dict[str, Any], board: Body, start: date
) -> int:
    seats = (
        ("chair", "local_authority", "Place lead and chair"),
        ("partner_member", "sub_icb_location|icb", "Place director"),
        ("partner_member", "pcn", "PCN clinical director"),
        ("partner_member", "vcse|hospice", "Voluntary sector lead"),
        ("partner_member", "local_authority", "Director of adult social care"),
    )
    for n, place in enumerate(fp.places, start=1):
        body = services.create_body(
            session,
            ACTOR,
            name=f"{place.name} place partnership",
            level="place",
            parent_id=board.id,
            place_code=place.code,
            **{k: spec[k] for k in ("kind", "quorum_voting_members", "quorum_roles")},
            voting_roles=spec["voting_roles"],
            clear_days=spec["clear_days"],
            purpose=spec["purpose"],
        )
        for i, (role, acts_for, title) in enumerate(seats):
            org = fp.pick(acts_for, place.code) or fp.pick(acts_for)
            services.add_member(
                session,
                ACTOR,
                body_id=body.id,
                name=f"Place member {n}.{i + 1}",
                job_title=title,
                role=role,
                org_code=org,
                term_start=start,
            )
    return len(fp.places)


def _registers(session: Session, fp: _Footprint, board: Body, start: date, today: date) -> None:
    spec = _data("demo_board.json")
    members = {m.name: m for m in services.members_of(session, board.id)}
    for entry in spec["interests"]:
        conflicts.declare_interest(
            session,
            ACTOR,
            member_id=members[entry["member"]].id,
            kind=entry["kind"],
            description=entry["description"],
            org_code=fp.pick(entry["org"]) if entry.get("org") else None,
            organisation_name=entry.get("organisation_name"),
            starts_on=start,
        )
    for n, entry in enumerate(spec["gifts"], start=1):
        conflicts.record_gift(
            session,
            ACTOR,
            member_id=members[entry["member"]].id,
            offered_by=entry["offered_by"],
            description=entry["description"],
            value_pence=entry["value_pence"],
            received_on=today - timedelta(days=30 * n),
            accepted=entry["accepted"],
        )


def _meeting(
    session: Session, fp: _Footprint, board: Body, spec: dict[str, Any], today: date
) -> Meeting:
    day = today + timedelta(days=spec["offset_days"])
    starts = datetime.combine(day, time(10, 0), LONDON).astimezone(UTC)
    meeting = services.create_meeting(
        session, ACTOR, body_id=board.id, starts_at=starts, location=spec["location"]
    )
    members = services.members_of(session, board.id)
    held = spec["offset_days"] < 0
    if held:
        for member in members:
            status = "apologies" if member.name in spec["apologies"] else "present"
            services.record_attendance(session, ACTOR, meeting.id, member.id, status)
    # Past papers went out eight days ahead; the upcoming meeting's go out on the day of the build.
    built = datetime.combine(today, time(9, 0), LONDON).astimezone(UTC)
    published = min(starts - timedelta(days=8), built)
    for entry in spec["items"]:
        item = services.add_item(
            session,
            ACTOR,
            meeting_id=meeting.id,
            title=entry["title"],
            part=entry["part"],
            purpose=entry["purpose"],
            presenter=entry.get("presenter"),
            concerns_org_code=fp.pick(entry["concerns"]) if entry.get("concerns") else None,
            needs_vote=entry.get("needs_vote", False),
            paper=entry["paper"],
        )
        services.publish_item(session, ACTOR, item.id, at=published)
        if held:
            _decide(session, item, members, entry)
    if held:
        services.set_meeting_status(session, ACTOR, meeting.id, "held")
        services.set_minutes(session, ACTOR, meeting.id, spec["minutes"], publish=True)
        for action in spec["actions"]:
            row = services.add_action(
                session,
                ACTOR,
                meeting_id=meeting.id,
                description=action["description"],
                owner=action["owner"],
                due_on=today + timedelta(days=action["due_days"]),
            )
            if action["status"] != "open":
                services.set_action_status(session, ACTOR, row.id, action["status"])
    return meeting


def _decide(session: Session, item: Item, members: list[Member], entry: dict[str, Any]) -> None:
    votes = entry.get("votes")
    if votes:
        for member in members:
            if conflicts.vote_refusal(session, item, member) is None:
                choice = next(
                    (c for c in ("against", "abstain") if member.name in votes.get(c, [])),
                    votes["default"],
                )
                conflicts.cast_vote(session, ACTOR, item.id, member.id, choice)
    if "decision" in entry:
        decision = entry["decision"]
        conflicts.record_decision(
            session, ACTOR, item.id, decision["resolution"], decision.get("outcome")
        )


def load_demo(session: Session, today: date | None = None) -> str:
    """Build the demo board in `session` (the footprint must be built); returns a summary.

    Does nothing if any board or committee already exists."""
    if session.scalar(select(Body.id).limit(1)) is not None:
        return "governance already set up"
    today = today or date.today()
    start = today - timedelta(days=365)
    fp = _Footprint(session)
    spec = _data("demo_board.json")
    board = _board(session, fp, spec["board"], start)
    places = _place_committees(session, fp, spec["place_committee"], board, start)
    _registers(session, fp, board, start, today)
    meetings = _data("demo_meetings.json")["meetings"]
    held = [_meeting(session, fp, board, meeting, today) for meeting in meetings]
    voice = load_voice_demo(session, fp, held, board.id, today)
    return (
        f"a board of {len(spec['board']['members'])} members, {places} place committees, "
        f"{len(meetings)} meetings; {voice}"
    )
