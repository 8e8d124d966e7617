"""The public Atom feed of newly published papers and decisions (public part only).

Built with ``xml.etree`` so every title and summary is escaped by the serialiser."""

from __future__ import annotations

from datetime import datetime
from xml.etree import ElementTree as ET

from integrated_care.governance.views import DecisionOut, ItemOut

ATOM = "http://www.w3.org/2005/Atom"


def _stamp(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def _entry(feed: ET.Element, entry_id: str, title: str, link: str, when: datetime, text: str):  # type: ignore[no-untyped-def]
    entry = ET.SubElement(feed, f"{{{ATOM}}}entry")
    ET.SubElement(entry, f"{{{ATOM}}}id").text = entry_id
    ET.SubElement(entry, f"{{{ATOM}}}title").text = title
    ET.SubElement(entry, f"{{{ATOM}}}link", href=link)
    ET.SubElement(entry, f"{{{ATOM}}}updated").text = _stamp(when)
    ET.SubElement(entry, f"{{{ATOM}}}summary").text = text


def atom_feed(
    base_url: str, title: str, papers: list[ItemOut], decisions: list[DecisionOut], now: datetime
) -> bytes:
    """An Atom document, newest first, of published public papers and public decisions."""
    ET.register_namespace("", ATOM)
    feed = ET.Element(f"{{{ATOM}}}feed")
    ET.SubElement(feed, f"{{{ATOM}}}id").text = f"{base_url}/board/feed.atom"
    ET.SubElement(feed, f"{{{ATOM}}}title").text = title
    ET.SubElement(feed, f"{{{ATOM}}}link", href=f"{base_url}/board/feed.atom", rel="self")
    ET.SubElement(feed, f"{{{ATOM}}}link", href=f"{base_url}/board")
    entries = [
        (
            p.published_at,
            f"{base_url}/board/papers/{p.id}",
            f"Paper: {p.title}",
            f"For {p.purpose}.",
        )
        for p in papers
        if p.published_at
    ] + [
        (
            d.recorded_at,
            f"{base_url}/board/decisions#decision-{d.item_id}",
            f"Decision: {d.item_title}",
            f"{d.body}, {d.meeting_date:%d %B %Y}: {d.outcome.replace('_', ' ')}. {d.resolution}",
        )
        for d in decisions
    ]
    entries.sort(key=lambda e: e[0], reverse=True)
    ET.SubElement(feed, f"{{{ATOM}}}updated").text = _stamp(entries[0][0] if entries else now)
    author = ET.SubElement(feed, f"{{{ATOM}}}author")
    ET.SubElement(author, f"{{{ATOM}}}name").text = title
    for when, link, entry_title, text in entries:
        _entry(feed, link, entry_title, link, when, text)
    return ET.tostring(feed, encoding="utf-8", xml_declaration=True)
