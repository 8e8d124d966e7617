"""What the referral API and pages share: the request models, reading and changing through
the service functions with every refusal audited, and the handlers both call.

A refusal (a ReferralError or DirectoryError from the services) becomes an HTTPException with
the same words and status, after an audit event of its own (``coordination.referral.refused``):
the request's own work is rolled back, the record of the refusal is kept.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any, TypeVar

from fastapi import HTTPException, Request
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from integrated_care.accounts.audit import record_event_now
from integrated_care.accounts.policy import Principal
from integrated_care.coordination import directory
from integrated_care.coordination import referral_views as views
from integrated_care.coordination import referral_waits as rw
from integrated_care.coordination import referrals as ref
from integrated_care.coordination.referral_models import URGENCIES
from integrated_care.coordination.referral_record import name_of
from integrated_care.runtime import Runtime

T = TypeVar("T")


class ReferralIn(BaseModel):
    patient_id: str = Field(min_length=1, max_length=64, description="The record's Patient id")
    service_id: int
    reason: str = Field(min_length=1, max_length=4000)
    urgency: str = Field("routine", description=", ".join(URGENCIES))
    consent: bool = Field(description="The patient has agreed to this referral")
    consent_note: str | None = Field(None, max_length=1000)


class ActionIn(BaseModel):
    note: str | None = Field(None, max_length=4000, description="Required to decline or complete")


class AcceptingIn(BaseModel):
    accepting: bool


class Done(BaseModel):
    id: int
    status: str


class PatientFound(BaseModel):
    patient_id: str
    nhs_number: str
    name: str | None
    birth_date: str | None
    gender: str | None


# ---- plumbing ---------------------------------------------------------------------------------


def today() -> date:
    return datetime.now(UTC).date()


def client_of(request: Request) -> str | None:
    return request.client.host if request.client else None


def refuse(request: Request, principal: Principal, e: ref.ReferralError) -> HTTPException:
    """Audit a refusal in its own transaction (the request's work is rolled back)."""
    record_event_now(
        request.app.state.runtime.sessions,
        actor=principal.username,
        organisation=principal.organisation_code,
        action="coordination.referral.refused",
        outcome="denied" if e.status in (401, 403) else "failure",
        reason=str(e),
        detail={"path": request.url.path, "method": request.method, "status": e.status},
        client=client_of(request),
    )
    return HTTPException(e.status, str(e))


def guarded(request: Request, principal: Principal, work: Callable[[], T]) -> T:
    """`work()`, with a refusal by a service turned into an audited HTTPException."""
    try:
        return work()
    except (ref.ReferralError, directory.DirectoryError) as e:
        error = e if isinstance(e, ref.ReferralError) else ref.ReferralError(str(e), e.status)
        raise refuse(request, principal, error) from None


def read(request: Request, principal: Principal, build: Callable[[Session], T]) -> T:
    """`build(session)` in a read-only session, guarded."""

    def work() -> T:
        with request.app.state.runtime.sessions() as session:
            return build(session)

    return guarded(request, principal, work)


def runtime_of(request: Request) -> Runtime:
    return request.app.state.runtime


async def form_fields(request: Request) -> dict[str, str]:
    form = await request.form()
    return {k: str(v) for k, v in form.items() if k != "csrf_token"}


def crumbs(*pairs: tuple[str, str]) -> list[dict[str, str]]:
    return [{"text": t, "href": h} for t, h in (("Home", "/"), ("Referrals", "/referrals"), *pairs)]


# ---- handlers shared by the API and the forms -------------------------------------------------


def make_referral(request: Request, principal: Principal, body: ReferralIn) -> Done:
    new = ref.NewReferral(**body.model_dump())
    r = guarded(
        request,
        principal,
        lambda: ref.create_referral(runtime_of(request), principal, new, client=client_of(request)),
    )
    return Done(id=r.id, status=r.status)


def act(
    request: Request, principal: Principal, referral_id: int, action: str, note: str | None
) -> Done:
    r = guarded(
        request,
        principal,
        lambda: ref.change_status(
            runtime_of(request), principal, referral_id, action, note, client=client_of(request)
        ),
    )
    return Done(id=r.id, status=r.status)


def referral_detail(
    request: Request, principal: Principal, referral_id: int
) -> views.ReferralDetail:
    """A referral from or to the principal's organisation; the look is audited (it identifies
    a patient)."""

    def build(s: Session) -> views.ReferralDetail:
        r = ref.get_referral(s, principal, referral_id)
        return views.ReferralDetail(
            referral=views.referrals_out(s, [r], today())[0],
            history=[views.event_out(e) for e in ref.history(s, r.id)],
            next_actions=ref.next_actions(r, principal),
        )

    detail = read(request, principal, build)
    ref.audit_view(
        runtime_of(request), principal, referral_id, detail.referral.patient_id, client_of(request)
    )
    return detail


def find(request: Request, principal: Principal, nhs_number: str) -> PatientFound | None:
    def work() -> dict[str, Any] | None:
        return ref.find_patient(runtime_of(request), principal, nhs_number, client_of(request))

    patient = guarded(request, principal, work)
    if patient is None:
        return None
    return PatientFound(
        patient_id=patient["id"],
        nhs_number=nhs_number,
        name=name_of(patient),
        birth_date=patient.get("birthDate"),
        gender=patient.get("gender"),
    )


def referral_list(
    request: Request, principal: Principal, box: str, status: str | None
) -> list[views.ReferralOut]:
    """The inbox or outbox; the look is audited with the patients it names."""
    rows = read(
        request,
        principal,
        lambda s: views.referrals_out(s, ref.list_referrals(s, principal, box, status), today()),
    )
    ref.audit_list(
        runtime_of(request), principal, box, [r.patient_id for r in rows], client_of(request)
    )
    return rows


def waits_of(request: Request, principal: Principal) -> views.WaitsOut:
    def build(s: Session) -> views.WaitsOut:
        rows = ref.list_referrals(s, principal, "inbox") + ref.list_referrals(
            s, principal, "outbox"
        )
        unique = list({r.id: r for r in rows}.values())
        return views.waits_out(s, unique, today())

    waits = read(request, principal, build)
    named = [r.patient_id for r in waits.breaches]
    ref.audit_list(runtime_of(request), principal, "breaches", named, client_of(request))
    return waits


def service_detail(
    request: Request, principal: Principal, service_id: int
) -> tuple[views.ServiceDetail, list[rw.Wait]]:
    def build(s: Session) -> tuple[views.ServiceDetail, list[rw.Wait]]:
        service = directory.get_service(s, service_id)
        waits = rw.service_waits(s, service_id, today())
        decided = sorted(w.days for w in waits if not w.waiting)
        figures = rw.by_service(s, waits)
        return (
            views.ServiceDetail(
                service=views.service_out(service, views.org_names(s)),
                referrals=len(waits),
                waiting=sum(w.waiting for w in waits),
                waiting_beyond_target=sum(w.waiting and w.breached for w in waits),
                median_days_to_decision=figures[0].median_days_to_decision if decided else None,
            ),
            waits,
        )

    return read(request, principal, build)


def set_accepting(
    request: Request, principal: Principal, service_id: int, accepting: bool
) -> views.ServiceOut:
    def work() -> views.ServiceOut:
        with runtime_of(request).transaction() as s:
            service = directory.set_accepting(
                s,
                service_id,
                accepting,
                actor=principal.username,
                actor_organisation=principal.organisation_code,
            )
            return views.service_out(service, views.org_names(s))

    return guarded(request, principal, work)


def service_list(
    request: Request,
    principal: Principal,
    org: str | None,
    kind: str | None,
    accepting: bool | None,
) -> list[views.ServiceOut]:
    def build(s: Session) -> list[views.ServiceOut]:
        names = views.org_names(s)
        rows = directory.list_services(s, org_code=org, kind=kind, accepting=accepting)
        return [views.service_out(x, names) for x in rows]

    return read(request, principal, build)
