"""Finance, contracts and workforce inputs for every member organisation.

Income in the final financial year is anchored on the activity generated for it (acute,
community and mental-health trusts: their final-year activity costs divided by the share of
income that activity represents; councils: their social care; practices: list size; the ICB:
allocation per registered patient), so the ledger is consistent in scale with the activity.

The input layer's ledger carries the main lines, all recurrent. What it cannot carry goes to
``finance_detail/ledger_detail.parquet`` (not an input-layer table; the finance importer loads
it when present): the efficiency programme (recurrent and non-recurrent), unfunded inflation,
variable activity income, one-off income and the cost of strike days, so the demo's positions
have underlying and reported figures and variances in every driver. Control totals are the
planned surplus of both together.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

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
PROVIDERS = ("acute_trust", "community_trust", "mental_health_trust", "ambulance_trust")
# The efficiency programme as a share of planned spend, and how much of it is non-recurrent.
CIP_SHARE, CIP_NON_RECURRENT = 0.045, 0.25
STRIKE_MONTHS = (3, 5)  # June and August: cover for industrial action, booked separately
DETAIL_COLUMNS = ("entry_id", "org_code", "financial_year", "month", "line", "kind",
                  "recurrent", "amount", "recorded_at")  # fmt: skip
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
    detail = ledger_detail(fp, cal, income, seed)
    planned = {}
    for org, kind, line, amount in zip(detail["org_code"], detail["kind"], detail["line"],
                                       detail["amount"], strict=True):  # fmt: skip
        if kind == "plan":
            planned[org] = planned.get(org, 0.0) + SIGN[line] * amount
    totals["control_total"] = [round(t + planned.get(o, 0.0), 2)
                               for o, t in zip(totals["org_code"], totals["control_total"],
                                               strict=True)]  # fmt: skip
    return rows, totals, detail


SIGN = {"efficiency": 1, "activity_income": 1, "income": 1, "inflation": -1,
        "industrial_action": -1}  # fmt: skip


def _detail_plan(kind: str, annual: float, r: np.random.Generator) -> dict[tuple[str, bool], float]:
    """A provider's planned detail lines for the year, by (line, recurrent). Planned unfunded
    inflation is met by the efficiency programme; acute trusts plan variable activity income;
    some plan a one-off income."""
    cip = annual * CIP_SHARE * r.uniform(0.7, 1.3)
    plan = {("efficiency", True): cip * (1 - CIP_NON_RECURRENT),
            ("efficiency", False): cip * CIP_NON_RECURRENT,
            ("inflation", True): cip * r.uniform(0.5, 0.8)}  # fmt: skip
    if kind == "acute_trust":
        plan[("activity_income", True)] = annual * 0.05
    if r.random() < 0.5:
        plan[("income", False)] = annual * r.uniform(0.002, 0.008)
    return plan


def _drift_key(line: str, recurrent: bool) -> str:
    if line == "efficiency":
        return "cip_recurrent" if recurrent else "cip_one_off"
    return {"inflation": "inflation", "activity_income": "activity"}.get(line, "")


def _detail_actual(line: str, recurrent: bool, planned: float, drift: dict[str, float],
                   r: np.random.Generator) -> float:  # fmt: skip
    """One month's actual for a planned detail line: recurrent savings fall short, one-offs
    are found to cover part of the gap, inflation runs above plan, activity below."""
    noise = r.normal(0, 0.05)
    if line == "activity_income":
        return planned * (drift["activity"] + noise / 5)
    key = _drift_key(line, recurrent)
    return planned * max(drift[key] + noise, 0) if key else planned


def ledger_detail(
    fp: Footprint, cal: Calendar, income: dict[str, float], seed: int
) -> dict[str, list]:
    """The NHS providers' detail lines: plan (12 months), actual (12) and forecast (the months
    after the forecast month), each recurrent or not."""
    r = rng(seed, "finance", "detail")
    spec = read_json("finance.json")
    fy = cal.financial_year(cal.years - 1)
    months = _months(cal)
    forecast_month = spec["forecast_month"]
    out: dict[str, list] = {k: [] for k in DETAIL_COLUMNS}

    def add(org: str, m: int, line: str, kind: str, recurrent: bool, amount: float,
            at: int) -> None:  # fmt: skip
        values = (len(out["entry_id"]) + 1, org, fy, m, line, kind, recurrent, round(amount, 2), at)
        for k, v in zip(DETAIL_COLUMNS, values, strict=True):
            out[k].append(v)

    plan_at = _stamp(*months[0], 1) - 30 * 86_400_000_000
    forecast_at = _stamp(*months[forecast_month], 12)
    for code, kind in _members(fp):
        if kind not in PROVIDERS:
            continue
        plan = _detail_plan(kind, income[code], r)
        drift = {"cip_recurrent": r.normal(0.8, 0.15), "cip_one_off": r.normal(1.3, 0.3),
                 "inflation": r.normal(1.3, 0.25), "activity": r.normal(0.97, 0.03)}  # fmt: skip
        strike = income[code] / 12 * r.uniform(0.002, 0.006) if kind != "community_trust" else 0
        for m, (year, month) in enumerate(months, start=1):
            next_year, next_month = (year + 1, 1) if month == 12 else (year, month + 1)
            closed = _stamp(next_year, next_month, 10)
            for (line, recurrent), annual in plan.items():
                add(code, m, line, "plan", recurrent, annual / 12, plan_at)
                actual = _detail_actual(line, recurrent, annual / 12, drift, r)
                add(code, m, line, "actual", recurrent, actual, closed)
                if m > forecast_month:  # the year-to-date delivery rate carried on
                    rate = max(drift.get(_drift_key(line, recurrent), 1.0), 0)
                    add(code, m, line, "forecast", recurrent, annual / 12 * rate, forecast_at)
            if strike and m in STRIKE_MONTHS:
                add(code, m, "industrial_action", "actual", False, strike, closed)
    return out


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


def _write_detail(out, detail: dict[str, list]) -> int:  # type: ignore[no-untyped-def]
    import pyarrow as pa
    import pyarrow.parquet as pq

    from integrated_care.synth.writer import OPTIONS

    folder = out / "finance_detail"
    folder.mkdir(exist_ok=True)
    columns = dict(detail)
    columns["amount"] = pa.array([Decimal(repr(a)) for a in detail["amount"]], pa.decimal128(18, 2))
    columns["recorded_at"] = pa.array(np.array(detail["recorded_at"], dtype="datetime64[us]"))
    pq.write_table(pa.table(columns), folder / "ledger_detail.parquet", **OPTIONS)
    return len(detail["entry_id"])


def write_finance(
    out, fp: Footprint, cal: Calendar, costs: dict[tuple[str, str], float], people: People,  # type: ignore[no-untyped-def]
    seed: int, registered: dict[str, int] | None = None,
) -> dict[str, int]:  # fmt: skip
    registered = registered or {}
    income = annual_income(fp, cal, costs, people, registered)
    rows, totals, detail = ledger(fp, cal, income, seed)
    staff, plan = workforce(fp, cal, income, seed)
    staff["start_date"] = np.array(staff["start_date"], dtype=np.int32)
    ends = np.array(staff["end_date"], dtype=np.int64)
    staff["end_date"] = np.where(ends < 0, NEVER, ends).astype(np.int32)
    agreements = contracts(fp, cal, income)
    agreements["start_date"] = np.array([day(d) for d in agreements["start_date"]], np.int32)
    agreements["end_date"] = np.array([day(d) for d in agreements["end_date"]], np.int32)
    rows["recorded_at"] = np.array(rows["recorded_at"], dtype=np.int64)
    return {
        "finance_ledger_detail": _write_detail(out, detail),
        "finance_control_totals": write_table(out, "finance_control_totals", totals),
        "finance_ledger": write_table(out, "finance_ledger", rows),
        "contracts": write_table(out, "contracts", agreements),
        "staff": write_table(out, "staff", staff),
        "workforce_plan": write_table(out, "workforce_plan", plan),
    }
