"""Finance, contracts and workforce inputs for every member organisation.

Income in the final financial year is anchored on the activity generated for it (acute,
community and mental-health trusts: their final-year activity costs divided by the share of
income that activity represents; councils: their social care; practices: list size; the ICB:
allocation per registered patient), so the ledger is consistent in scale with the activity.
"""

from __future__ import annotations

from datetime import datetime

import numpy as np

from integrated_care.synth.core import NEVER, Calendar, choice, day, rng, to_date
from integrated_care.synth.footprint import Footprint
from integrated_care.synth.params import categorical, read_json
from integrated_care.synth.population import People
from integrated_care.synth.writer import write_table

MEMBER_TYPES = (
    "icb", "acute_trust", "community_trust", "mental_health_trust", "ambulance_trust",
    "gp_practice", "local_authority", "vcse", "independent_provider", "hospice",
)  # fmt: skip
LINES = ("income", "pay", "agency_pay", "non_pay", "depreciation", "financing", "other")
STREAM_OF = {"acute_trust": "acute", "community_trust": "community",
             "mental_health_trust": "mental_health", "local_authority": "social_care"}  # fmt: skip


def _members(fp: Footprint) -> list[tuple[str, str]]:
    return [(o.org_code, o.org_type) for o in fp.data.organisations if o.org_type in MEMBER_TYPES]


def annual_income(
    fp: Footprint, cal: Calendar, costs: dict[tuple[str, str], float], people: People,
    registered: dict[str, int],
) -> dict[str, float]:  # fmt: skip
    spec = read_json("finance.json")
    alive = int((people.death > cal.end).sum())
    out = {}
    for code, kind in _members(fp):
        if kind == "icb":
            out[code] = spec["allocation_per_head"] * sum(registered.values())
        elif kind in STREAM_OF:
            activity = costs.get((code, STREAM_OF[kind]), 0.0)
            out[code] = (activity / spec["modelled_share"][kind] if activity
                         else spec["fallback_income"][kind])  # fmt: skip
        elif kind == "gp_practice":
            out[code] = spec["per_head_income"]["gp_practice_per_registered"] * registered.get(
                code, 0
            )
        else:
            out[code] = spec["per_head_income"][kind] * alive
    return out


def _months(cal: Calendar) -> list[tuple[int, int]]:
    """(year, month) of each financial month of the final year, April first."""
    start = to_date(cal.year_bounds(cal.years - 1)[0])
    return [(start.year + (start.month - 1 + m) // 12, (start.month - 1 + m) % 12 + 1)
            for m in range(12)]  # fmt: skip


def _stamp(year: int, month: int, day: int, hour: int = 9) -> int:
    return int((datetime(year, month, day, hour) - datetime(1970, 1, 1)).total_seconds() * 1e6)


def ledger(
    fp: Footprint, cal: Calendar, income: dict[str, float], seed: int
) -> tuple[dict[str, list], dict[str, list]]:
    """Monthly plan (all 12), actual (all 12, some corrected later) and forecast (months after
    the forecast month) entries by line, and each organisation's control total."""
    r = rng(seed, "finance", "ledger")
    spec = read_json("finance.json")
    fy = cal.financial_year(cal.years - 1)
    months = _months(cal)
    winter = np.array([1.0 + (spec["winter_uplift"] if m in (12, 1, 2) else 0) for _, m in months])
    season = winter / winter.mean()
    rows: dict[str, list] = {k: [] for k in ("entry_id", "org_code", "financial_year", "month",
                                             "line", "kind", "amount", "recorded_at",
                                             "supersedes")}  # fmt: skip
    totals: dict[str, list] = {"org_code": [], "financial_year": [], "control_total": []}

    def add(org: str, month: int, line: str, kind: str, amount: float, at: int,
            supersedes: int | None = None) -> int:  # fmt: skip
        entry = len(rows["entry_id"]) + 1
        for k, v in zip(rows, (entry, org, fy, month, line, kind, round(amount, 2), at, supersedes),
                        strict=True):  # fmt: skip
            rows[k].append(v)
        return entry

    plan_at = _stamp(*months[0], 1) - 30 * 86_400_000_000
    corrections = []
    for code, kind in _members(fp):
        shares = spec["cost_shares"].get(kind, spec["cost_shares"]["default"])
        annual = income[code]
        margin = r.normal(0, spec["control_total_share_sd"])
        spend = annual * (1 - margin)
        plan = {"income": annual, **{k: spend * v for k, v in shares.items()}}
        totals["org_code"].append(code)
        totals["financial_year"].append(fy)
        totals["control_total"].append(round(annual - spend, 2))
        drift = {line: r.normal(0, 0.015) for line in LINES}
        actual_sum = {line: 0.0 for line in LINES}
        for m, (year, month) in enumerate(months, start=1):
            next_year, next_month = (year + 1, 1) if month == 12 else (year, month + 1)
            closed = _stamp(next_year, next_month, 10)
            for line in LINES:
                planned = plan[line] / 12 * season[m - 1]
                add(code, m, line, "plan", planned, plan_at)
                actual = planned * (1 + drift[line] + r.normal(0, spec["monthly_noise_sd"]))
                entry = add(code, m, line, "actual", actual, closed)
                if m <= spec["forecast_month"]:
                    actual_sum[line] += actual
                if r.random() < spec["correction_share"]:
                    corrections.append((code, m, line, actual * (1 + r.normal(0, 0.03)),
                                        closed + 20 * 86_400_000_000, entry))  # fmt: skip
        f_year, f_month = months[spec["forecast_month"]]
        forecast_at = _stamp(f_year, f_month, 12)
        for m in range(spec["forecast_month"] + 1, 13):
            for line in LINES:
                run_rate = actual_sum[line] / spec["forecast_month"]
                add(code, m, line, "forecast", run_rate * season[m - 1], forecast_at)
    for code, m, line, amount, at, entry in corrections:
        add(code, m, line, "actual", amount, at, supersedes=entry)
    return rows, totals


def contracts(fp: Footprint, cal: Calendar, income: dict[str, float]) -> dict[str, list]:
    """Every contract type: NHS standard with each trust, section 75 with each council, an
    alliance (community provider with VCSE sub-contracts), an ICP lead-provider contract (acute
    trust with private and voluntary sub-contracts), and direct VCSE contracts."""
    orgs = {o.org_code: o for o in fp.data.organisations}
    by_type: dict[str, list[str]] = {}
    for code, kind in _members(fp):
        by_type.setdefault(kind, []).append(code)
    icb = by_type["icb"][0]
    lo, hi = cal.year_bounds(cal.years - 1)
    start, end = to_date(lo), to_date(hi)
    out: dict[str, list] = {k: [] for k in ("contract_id", "commissioner_code", "holder_code",
                                            "contract_type", "parent_contract_id", "services",
                                            "annual_value", "start_date", "end_date",
                                            "procurement_route")}  # fmt: skip

    def add(holder: str, kind: str, services: str, value: float, route: str,
            parent: str | None = None, commissioner: str = icb) -> str:  # fmt: skip
        cid = f"C{len(out['contract_id']) + 1:05d}"
        for k, v in zip(out, (cid, commissioner, holder, kind, parent, services, round(value, 2),
                              start, end, route), strict=True):  # fmt: skip
            out[k].append(v)
        return cid

    services = {"acute_trust": "acute|emergency|elective|outpatients",
                "community_trust": "community nursing|therapies|rapid response",
                "mental_health_trust": "mental health|talking therapies|crisis",
                "ambulance_trust": "999|patient transport"}  # fmt: skip
    for kind, svc in services.items():
        for code in by_type.get(kind, []):
            add(code, "nhs_standard", svc, income[code] * 0.85, "direct_award_a")
    for code in by_type.get("local_authority", []):
        add(code, "section_75", "better care fund|intermediate care|equipment",
            income[code] * 0.12, "legacy")  # fmt: skip
    voluntary = by_type.get("vcse", []) + by_type.get("hospice", [])
    private = by_type.get("independent_provider", [])
    community = (by_type.get("community_trust") or by_type.get("mental_health_trust")
                 or by_type["acute_trust"])[0]  # fmt: skip
    alliance = add(community, "alliance", "ageing well|frailty|end of life",
                   income[community] * 0.1, "most_suitable_provider")  # fmt: skip
    for code in voluntary[: max(1, len(voluntary) // 2)]:
        add(code, "sub_contract", f"{orgs[code].name} services for the alliance",
            income[code] * 0.5, "direct_award_c", alliance)  # fmt: skip
    lead = by_type["acute_trust"][0]
    icp = add(lead, "icp_lead_provider", "integrated urgent care|planned care",
              income[lead] * 0.08, "most_suitable_provider")  # fmt: skip
    for code in private + voluntary[max(1, len(voluntary) // 2) :]:
        add(code, "sub_contract", f"{orgs[code].name} services for the lead provider",
            income[code] * 0.6, "competitive", icp)  # fmt: skip
    for code in voluntary[:2]:
        add(code, "nhs_standard", "social prescribing|community support", income[code] * 0.3,
            "competitive")  # fmt: skip
    return out


def workforce(
    fp: Footprint, cal: Calendar, income: dict[str, float], seed: int
) -> tuple[dict[str, list], dict[str, list]]:
    """Staff records (one row per person employed) and a monthly planned FTE by staff group."""
    r = rng(seed, "finance", "workforce")
    spec = read_json("finance.json")
    lo, hi = cal.year_bounds(cal.years - 1)
    fy = cal.financial_year(cal.years - 1)
    staff: dict[str, list] = {k: [] for k in ("staff_id", "employer_code", "staff_group", "role",
                                              "fte", "start_date", "end_date")}  # fmt: skip
    plan: dict[str, list] = {k: [] for k in ("org_code", "financial_year", "month",
                                             "staff_group", "planned_fte")}  # fmt: skip
    next_id = 1
    for code, kind in _members(fp):
        shares = spec["cost_shares"].get(kind, spec["cost_shares"]["default"])
        fte_total = income[code] * shares["pay"] / spec["cost_per_fte"][kind]
        groups, p = categorical(spec["staff_mix"][kind])
        for g, share in zip(groups, p, strict=True):
            fte = fte_total * share
            n = max(round(fte / 0.85), 1)
            person_fte = np.round(np.clip(r.choice([1.0, 1.0, 1.0, 0.8, 0.6, 0.5], n), 0.1, 1.0), 2)
            roles = spec["roles"][g]
            role = np.array(roles, dtype=object)[choice(r, np.ones(len(roles)), n)]
            start = (lo - np.floor(r.exponential(8 * 365.25, n))).astype(int)
            leaves = r.random(n) < spec["annual_leaver_share"]
            end = np.where(leaves, lo + r.integers(0, hi - lo, n), -1)
            staff["staff_id"].extend(range(next_id, next_id + n))
            next_id += n
            staff["employer_code"].extend([code] * n)
            staff["staff_group"].extend([g] * n)
            staff["role"].extend(role.tolist())
            staff["fte"].extend(person_fte.tolist())
            staff["start_date"].extend(start.tolist())
            staff["end_date"].extend(end.tolist())
            for m in range(1, 13):
                plan["org_code"].append(code)
                plan["financial_year"].append(fy)
                plan["month"].append(m)
                plan["staff_group"].append(g)
                growth = 1 + spec["workforce_growth_per_year"] * m / 12
                plan["planned_fte"].append(round(fte * growth, 2))
    return staff, plan


def write_finance(
    out, fp: Footprint, cal: Calendar, costs: dict[tuple[str, str], float], people: People,  # type: ignore[no-untyped-def]
    seed: int, registered: dict[str, int] | None = None,
) -> dict[str, int]:  # fmt: skip
    registered = registered or {}
    income = annual_income(fp, cal, costs, people, registered)
    rows, totals = ledger(fp, cal, income, seed)
    staff, plan = workforce(fp, cal, income, seed)
    staff["start_date"] = np.array(staff["start_date"], dtype=np.int32)
    ends = np.array(staff["end_date"], dtype=np.int64)
    staff["end_date"] = np.where(ends < 0, NEVER, ends).astype(np.int32)
    agreements = contracts(fp, cal, income)
    agreements["start_date"] = np.array([day(d) for d in agreements["start_date"]], np.int32)
    agreements["end_date"] = np.array([day(d) for d in agreements["end_date"]], np.int32)
    rows["recorded_at"] = np.array(rows["recorded_at"], dtype=np.int64)
    return {
        "finance_control_totals": write_table(out, "finance_control_totals", totals),
        "finance_ledger": write_table(out, "finance_ledger", rows),
        "contracts": write_table(out, "contracts", agreements),
        "staff": write_table(out, "staff", staff),
        "workforce_plan": write_table(out, "workforce_plan", plan),
    }
