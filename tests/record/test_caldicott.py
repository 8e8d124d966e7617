"""The Caldicott guardian's view: the record's audit as FHIR AuditEvent (IHE BALP style), the
audit page and its JSON twin, and the review of break-glass uses. Guardian yes, GP no."""

from __future__ import annotations

from fhir.resources.R4B.auditevent import AuditEvent as FhirAuditEvent

from tests.record.test_access_rules import World, assert_refused, world  # noqa: F401

GLASS = {"X-Break-Glass-Reason": "Collapsed in clinic"}


def _activity(w: World) -> None:
    assert w.get("gp_a", "Condition/p1-dm").status_code == 200
    assert w.get("gp_b", "Condition/p1-dm").status_code == 403
    assert w.get("gp_b", "Patient/p1", **GLASS).status_code == 200
    assert w.get("hosp", "Condition").status_code == 200  # returns p1-dm
    assert w.get("gp_b", "Patient/p2").status_code == 200  # another patient


def test_audit_events_render_as_fhir_balp(world: World) -> None:  # noqa: F811
    _activity(world)
    bundle = world.get("guardian", "AuditEvent?patient=p1").json()
    assert bundle["resourceType"] == "Bundle" and bundle["type"] == "searchset"
    events = [e["resource"] for e in bundle["entry"]]
    for event in events:
        FhirAuditEvent.model_validate(event)  # valid R4 (R4B) AuditEvent
        assert event["type"]["code"] == "rest"
    # Newest first: hosp's search, gp_b's break-glass read and the break-glass itself, gp_b's
    # refused read, gp_a's read. Patient p2's read is not listed.
    summary = [
        (
            e["agent"][0]["who"]["identifier"]["value"],
            e["subtype"][0]["code"],
            e["action"],
            e["outcome"],
            e["agent"][0]["purposeOfUse"][0]["coding"][0]["code"],
        )
        for e in events
    ]
    assert summary == [
        ("hosp", "search-type", "E", "0", "TREAT"),
        ("gp_b", "read", "R", "0", "TREAT"),
        ("gp_b", "operation", "E", "0", "BTG"),
        ("gp_b", "read", "R", "4", "TREAT"),
        ("gp_a", "read", "R", "0", "TREAT"),
    ]
    read = events[-1]
    roles = {e["role"]["code"]: e.get("what", {}).get("reference") for e in read["entity"]}
    assert roles == {"1": "Patient/p1", "4": "Condition/p1-dm"}
    assert read["agent"][1]["who"]["identifier"]["value"] == "A81001"
    assert events[2]["outcomeDesc"] == "reason given: Collapsed in clinic"
    assert "no care relationship" in events[3]["outcomeDesc"]
    # What did this user look at; break-glass only; one event by id.
    by_user = world.get("guardian", "AuditEvent?agent=gp_b").json()["entry"]
    assert len(by_user) == 4
    glass = world.get("guardian", "AuditEvent?purpose=BTG").json()["entry"]
    assert [g["resource"]["id"] for g in glass] == [events[2]["id"]]
    one = world.get("guardian", f"AuditEvent/{events[2]['id']}").json()
    assert one == events[2]


def test_only_the_guardian_reads_the_audit(world: World) -> None:  # noqa: F811
    refused = world.get("gp_a", "AuditEvent?patient=p1")
    assert refused.status_code == 403 and refused.json()["resourceType"] == "OperationOutcome"
    headers = world.headers("gp_a")
    for path in ("/record/audit", "/api/record/audit", "/record/break-glass"):
        assert world.client.get(path, headers=headers).status_code == 403
    assert world.events(actor="gp_a", action="access.denied")


def test_audit_page_and_json_twin(world: World) -> None:  # noqa: F811
    _activity(world)
    headers = world.headers("guardian")
    data = world.client.get("/api/record/audit?patient=p1", headers=headers).json()
    assert [(e["user"], e["action"], e["outcome"], e["break_glass"]) for e in data["events"]] == [
        ("hosp", "search", "success", False),
        ("gp_b", "read", "success", False),
        ("gp_b", "break-glass", "success", True),
        ("gp_b", "read", "denied", False),
        ("gp_a", "read", "success", False),
    ]
    by_user = world.client.get("/api/record/audit?user=gp_a", headers=headers).json()
    assert [e["resource"] for e in by_user["events"]] == ["Condition/p1-dm"]
    page = world.client.get("/record/audit?patient=p1", headers=headers)
    assert page.status_code == 200
    assert "Collapsed in clinic" in page.text and "Break-glass" in page.text
    # Looking at the audit is audited.
    assert world.events(actor="guardian", action="audit.record-view")


def test_break_glass_uses_are_reviewed_with_a_note(world: World) -> None:  # noqa: F811
    _activity(world)
    headers = world.headers("guardian")
    [use] = world.client.get("/api/record/break-glass", headers=headers).json()
    assert (use["user"], use["patient"], use["reason"]) == ("gp_b", "p1", "Collapsed in clinic")
    page = world.client.get("/record/break-glass", headers=headers)
    assert page.status_code == 200 and "Collapsed in clinic" in page.text
    empty = world.client.post(
        f"/api/record/break-glass/{use['id']}/review", json={"note": " "}, headers=headers
    )
    assert empty.status_code == 422
    done = world.client.post(
        f"/api/record/break-glass/{use['id']}/review",
        json={"note": "Checked with the ward: appropriate"},
        headers=headers,
    )
    assert done.status_code == 200 and done.json()["reviewed_by"] == "guardian"
    assert world.client.get("/api/record/break-glass", headers=headers).json() == []
    reviewed = world.client.get("/api/record/break-glass?status=reviewed", headers=headers)
    assert reviewed.json()[0]["review_note"] == "Checked with the ward: appropriate"
    assert world.events(action="record.break-glass-review")[0].reason.startswith("Checked")
    missing = world.client.post(
        "/api/record/break-glass/999/review", json={"note": "x"}, headers=headers
    )
    assert missing.status_code == 404
