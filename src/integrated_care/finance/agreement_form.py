"""The agreement form: what it holds as typed, the rules it describes (every problem named by
its field, for the error summary), and a stored version read back into it for changing."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from fastapi import Request
from sqlalchemy.orm import Session

from integrated_care.finance import ledger, services
from integrated_care.finance.agreements import StoredAgreement

METHOD_LABELS = {
    "fixed": "Fixed shares",
    "turnover": "Pro rata to turnover (planned income)",
    "allocation": "Pro rata to allocation",
}
BASIS_LABELS = {"control_total": "Against control total", "plan": "Against plan"}


@dataclass
class AgreementForm:
    """What the form holds, as typed, and the problems found in it (by field id)."""

    values: dict[str, str] = field(default_factory=dict)
    parties: list[str] = field(default_factory=list)
    errors: list[dict[str, str]] = field(default_factory=list)

    def error(self, field_id: str, text: str) -> None:
        self.errors.append({"text": text, "href": f"#{field_id}"})

    def get(self, name: str) -> str:
        return self.values.get(name, "").strip()


def _amount(form: AgreementForm, name: str, label: str) -> str | None:
    """A pound amount from the form (blank: None), as text; a problem names the field."""
    text = form.get(name).replace(",", "").replace("£", "")
    if not text:
        return None
    try:
        return str(ledger.money(text))
    except ValueError:
        form.error(name, f"{label}: {form.get(name)!r} is not an amount in pounds")
        return None


def _percent(form: AgreementForm, name: str, label: str) -> Decimal | None:
    text = form.get(name).rstrip("%").strip()
    if not text:
        return None
    try:
        pct = Decimal(text)
    except InvalidOperation:
        pct = Decimal("NaN")
    if not pct.is_finite() or not 0 <= pct <= 100:
        form.error(name, f"{label}: {form.get(name)!r} should be a percentage from 0 to 100")
        return None
    return pct


def rules_from_form(form: AgreementForm, names: dict[str, str]) -> dict[str, Any]:
    """The rules the form describes; problems go to ``form.errors``, each naming its field."""
    method = form.get("method")
    if method not in METHOD_LABELS:
        form.error("method", "Choose how the pool is shared")
    basis = form.get("basis") or "control_total"
    if basis not in BASIS_LABELS:
        form.error("basis", "Choose which variance is shared")
    if len(form.parties) < 2:
        form.error("parties", "Choose at least two organisations to share")
    rules: dict[str, Any] = {
        "parties": form.parties,
        "method": method,
        "basis": basis,
        "fixed_shares": {},
        "allocation": {},
        "limits": {},
    }
    corridor_pct = _percent(form, "corridor_percent", "Corridor")
    corridor_amount = _amount(form, "corridor_amount", "Corridor")
    if corridor_pct is not None and corridor_amount is not None:
        form.error("corridor_percent", "Corridor: give a percentage or an amount, not both")
    elif corridor_amount is not None:
        width = abs(Decimal(corridor_amount))
        rules["corridor"] = {"lower": str(-width), "upper": str(width)}
    else:
        rules["corridor"] = {"share_of_turnover": str((corridor_pct or Decimal(0)) / 100)}
    for org in form.parties:
        name = names.get(org, org)
        if method == "fixed":
            share = _percent(form, f"share-{org}", f"{name}'s fixed share")
            rules["fixed_shares"][org] = str((share or Decimal(0)) / 100)
        if method == "allocation":
            allocation = _amount(form, f"allocation-{org}", f"{name}'s allocation")
            if allocation is None:
                form.error(f"allocation-{org}", f"{name}'s allocation: give an amount in pounds")
            else:
                rules["allocation"][org] = allocation
        floor = _amount(form, f"floor-{org}", f"{name}'s floor")
        cap = _amount(form, f"cap-{org}", f"{name}'s cap")
        if floor is not None or cap is not None:
            rules["limits"][org] = {"floor": floor, "cap": cap}
    host = form.get("host") or None
    if host and host not in form.parties:
        form.error("host", "The host must be one of the parties")
    rules["host"] = host
    return rules


async def read_form(request: Request) -> AgreementForm:
    raw = await request.form()
    return AgreementForm(
        values={k: str(v) for k, v in raw.items() if k not in ("csrf_token", "party")},
        parties=[str(p) for p in raw.getlist("party")],
    )


def organisations(session: Session, year: str) -> list[tuple[str, str]]:
    """The organisations that could be parties: those with a control total or a plan."""
    names = services.organisation_names(session)
    codes = set(ledger.control_totals(session, year)) | set(ledger.plans_of_record(session, year))
    return sorted(((c, names.get(c, c)) for c in codes), key=lambda x: x[1])


def form_from(a: StoredAgreement) -> AgreementForm:
    """The form filled with a stored version, for changing it."""
    g = a.agreement
    values = {
        "name": a.name,
        "status": a.status,
        "method": g.method,
        "basis": g.basis,
        "host": g.host or "",
    }
    if g.corridor.share_of_turnover is not None:
        values["corridor_percent"] = str(g.corridor.share_of_turnover * 100)
    else:
        values["corridor_amount"] = str(g.corridor.upper)
    for org, share in g.fixed_shares.items():
        values[f"share-{org}"] = str(share * 100)
    for org, amount in g.allocation.items():
        values[f"allocation-{org}"] = str(amount)
    for org, lim in g.limits.items():
        values[f"floor-{org}"] = "" if lim.floor is None else str(lim.floor)
        values[f"cap-{org}"] = "" if lim.cap is None else str(lim.cap)
    return AgreementForm(values, list(g.parties))
