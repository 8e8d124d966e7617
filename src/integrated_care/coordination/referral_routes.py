"""Referral pages under /referrals (referral_pages.py) and their JSON twins under
/api/referrals (here).

Seeing needs care:read and shows only referrals from or to the organisation the user acts for;
making and acting on referrals needs care:write (and the record's own access rules apply to
the ServiceRequest and Task written for each). Every refusal is audited (referral_handlers.py);
every change is audited by the service it calls. A page form posts to the same handler as the
API and is redirected back; a refused form is shown again with what was wrong.
"""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Query, Request

from integrated_care.accounts.policy import Principal
from integrated_care.coordination import referral_handlers as h
from integrated_care.coordination import referral_pages
from integrated_care.coordination import referral_views as views
from integrated_care.coordination.referral_models import SERVICE_KINDS
from integrated_care.coordination.referral_pages import READ, WRITE
from integrated_care.web.navigation import NavItem, register_nav_item

router = APIRouter()
register_nav_item(NavItem("Referrals", "/referrals", "care:read"))
TAGS = ["referrals"]


@router.get("/api/referrals", tags=TAGS)
def api_referrals(
    request: Request,
    box: str = Query("inbox", pattern="^(inbox|outbox)$", description="inbox (to us) or outbox"),
    status: str | None = Query(None, description="open, or one status"),
    principal: Principal = READ,
) -> list[views.ReferralOut]:
    """Referrals to (inbox) or from (outbox) the organisation you act for, newest first."""
    return h.referral_list(request, principal, box, status)


@router.post("/api/referrals", tags=TAGS, status_code=201)
def api_make_referral(request: Request, body: h.ReferralIn, principal: Principal = WRITE) -> h.Done:
    """Refer a patient to a service (the patient's consent must be recorded)."""
    return h.make_referral(request, principal, body)


@router.get("/api/referrals/patients", tags=TAGS)
def api_find_patient(
    request: Request, nhs_number: str, principal: Principal = WRITE
) -> h.PatientFound:
    """The patient with this NHS number whose record you may see (audited search)."""
    found = h.find(request, principal, nhs_number)
    if found is None:
        raise HTTPException(
            404, f"no patient with NHS number {nhs_number} whose record you may see"
        )
    return found


@router.get("/api/referrals/services", tags=TAGS)
def api_services(
    request: Request,
    org: str | None = None,
    kind: str | None = Query(None, description=", ".join(SERVICE_KINDS)),
    accepting: bool | None = None,
    principal: Principal = READ,
) -> list[views.ServiceOut]:
    """The service directory."""
    return h.service_list(request, principal, org, kind, accepting)


@router.get("/api/referrals/services/{service_id}", tags=TAGS)
def api_service(
    request: Request, service_id: int, principal: Principal = READ
) -> views.ServiceDetail:
    """A service, with how long referrals to it wait for a decision (counts only)."""
    return h.service_detail(request, principal, service_id)[0]


@router.put("/api/referrals/services/{service_id}/accepting", tags=TAGS)
def api_set_accepting(
    request: Request, service_id: int, body: h.AcceptingIn, principal: Principal = WRITE
) -> views.ServiceOut:
    """Open or close your organisation's service to new referrals."""
    return h.set_accepting(request, principal, service_id, body.accepting)


@router.get("/api/referrals/waits", tags=TAGS)
def api_waits(request: Request, principal: Principal = READ) -> views.WaitsOut:
    """Waiting times of your organisation's referrals (in and out), per service, and breaches."""
    return h.waits_of(request, principal)


@router.get("/api/referrals/{referral_id}", tags=TAGS)
def api_referral(
    request: Request, referral_id: int, principal: Principal = READ
) -> views.ReferralDetail:
    """A referral with its status history and what you may do next (the look is audited)."""
    return h.referral_detail(request, principal, referral_id)


@router.post("/api/referrals/{referral_id}/{action}", tags=TAGS)
def api_act(
    request: Request,
    referral_id: int,
    action: str,
    body: h.ActionIn | None = None,
    principal: Principal = WRITE,
) -> h.Done:
    """accept, decline (note: the reason), complete (note: the outcome) or withdraw."""
    return h.act(request, principal, referral_id, action, (body or h.ActionIn()).note)


router.include_router(referral_pages.router)
