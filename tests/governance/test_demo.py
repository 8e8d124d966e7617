"""The demo board: seated on the real footprint, with past meetings whose counted votes match
their minutes, an upcoming decision that conflicts with a declared interest, and nothing
private on the public portal."""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from integrated_care.footprint.services import list_organisations
from integrated_care.governance import conflicts, demo, services, views
from integrated_care.governance.models import Body, Item

TODAY = date(2026, 11, 25)


def test_demo_board_is_seated_on_the_real_footprint(footprint_session: Session) -> None:
    summary = demo.load_demo(footprint_session, TODAY)
    assert summary == (
        "a board of 11 members, 3 place committees, 3 meetings; "
        "5 public questions, 1 open consultation, 13 engagements"
    )
    types = {o.org_code: o.org_type for o in list_organisations(footprint_session)}
    board = services.list_bodies(footprint_session)[0]
    assert board.level == "system" and board.parent_id is None
    seated = {types.get(m.org_code or "") for m in services.members_of(footprint_session, board.id)}
    assert {"icb", "acute_trust", "mental_health_trust", "local_authority", "pcn", "vcse"} <= seated
    places = [b for b in services.list_bodies(footprint_session) if b.level == "place"]
    assert len(places) == 3 and {b.parent_id for b in places} == {board.id}
    chair = services.chair_of(footprint_session, board.id, TODAY)
    assert chair is not None and chair.nhse_approval == "approved"
    assert demo.load_demo(footprint_session, TODAY) == "governance already set up"
    assert footprint_session.scalar(select(func.count()).select_from(Body)) == 4


def test_demo_votes_match_the_minutes_and_the_upcoming_item_is_conflicted(
    footprint_session: Session,
) -> None:
    demo.load_demo(footprint_session, TODAY)
    portal = views.portal(footprint_session, datetime(2026, 11, 25, 12, tzinfo=UTC))
    assert len(portal.upcoming) == 1 and len(portal.past) == 2
    votes = {
        d.item_title: (d.votes_for, d.votes_against, d.abstentions)
        for d in portal.decisions
        if d.votes_for is not None
    }
    # First meeting: 9 voting members, one apology -> 8 for. Second: all 9 present, the acute
    # trust's chief executive conflicted -> 8 vote, one against.
    assert votes == {
        "Joint forward plan 2027-2032": (8, 0, 0),
        "Community diagnostic centre: full business case": (7, 1, 0),
    }
    public_titles = {i.title for m in portal.upcoming + portal.past for i in m.items}
    private = footprint_session.scalars(select(Item.title).where(Item.part == "private")).all()
    assert private and not public_titles & set(private)
    upcoming = next(i for i in portal.upcoming[0].items if i.needs_vote)
    found = conflicts.conflicts(footprint_session, footprint_session.get(Item, upcoming.id))
    assert [(c.member_name, c.allowed) for c in found] == [("Chloe Evans", False)]
    assert not upcoming.published_late and upcoming.clear_days == 13
    assert all(m.minutes for m in portal.past)


def test_demo_public_voice(footprint_session: Session) -> None:
    """Answered questions on past meetings, one accepted and awaiting its answer within its
    deadline, one waiting for moderation; an open consultation with comments grouped into
    themes, two answered; engagement from each kind of partner."""
    from integrated_care.governance import consultations as consult
    from integrated_care.governance import engagement as engage
    from integrated_care.governance import questions as ask

    s = footprint_session
    demo.load_demo(s, TODAY)
    rows = ask.all_questions(s)
    assert sorted(q.status for q in rows) == ["accepted", "answered", "answered", "answered",
                                              "submitted"]  # fmt: skip
    waiting = next(q for q in rows if q.status == "accepted")
    assert waiting.respond_by > TODAY and not ask.overdue(waiting, TODAY)
    assert not any(ask.overdue(q, TODAY) for q in rows)
    [open_one] = consult.consultations(s, public=True)
    assert consult.state(open_one, TODAY) == "open"
    per_theme = consult.comments_per_theme(s, open_one.id)
    themes = consult.themes_of(s, open_one.id)
    assert [per_theme[t.id] for t in themes] == [2, 2, 2] and per_theme[None] == 1
    assert [t.response is not None for t in themes] == [True, True, False]
    kinds = {r.participant_kind for r in engage.records(s)}
    assert kinds == {"pcn_clinical_director", "clinician", "local_medical_committee",
                     "healthwatch", "council"}  # fmt: skip
    lmc = next(o for o in engage.by_organisation(s) if o.organisation == "Local medical committee")
    assert (len(lmc.meetings), len(lmc.consultations)) == (2, 1)
