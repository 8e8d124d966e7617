"""The board pack as a PDF, built on demand: a cover, the agenda, then each item's paper.

The public pack holds only the published items of the public part (what the portal shows); the
members' pack holds every item, the private part marked as confidential on every page. Written
with fpdf2's core Helvetica font, so nothing is fetched or installed: text is reduced to the
Latin-1 characters that font has (typographic quotes and dashes become their plain forms).
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from fpdf import FPDF
from sqlalchemy.orm import Session

from integrated_care.governance import paper_files, services
from integrated_care.governance.models import Body, Item, Meeting
from integrated_care.governance.papers import render_markdown

LONDON = ZoneInfo("Europe/London")
NHS_BLUE = (0, 94, 184)
_PLAIN = str.maketrans(
    {
        "\u2018": "'",
        "\u2019": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u2013": "-",
        "\u2014": "-",
        "\u2026": "...",
        "\u2022": "-",
        "\u00a0": " ",
        "\u2192": "->",
    }
)


def latin1(text: str) -> str:
    """Text the core fonts can draw: common typography made plain, anything else as '?'."""
    return text.translate(_PLAIN).encode("latin-1", "replace").decode("latin-1")


def _when(value: datetime) -> str:
    return services.utc(value).astimezone(LONDON).strftime("%-d %B %Y, %H:%M")  # type: ignore[union-attr]


class _Pack(FPDF):
    def __init__(self, title: str, marking: str) -> None:
        super().__init__(format="A4")
        self.pack_title = title
        self.marking = marking
        self.set_auto_page_break(auto=True, margin=20)
        self.set_title(title)
        self.set_creator("integrated-care")
        self.alias_nb_pages()

    def footer(self) -> None:
        self.set_y(-14)
        self.set_font("Helvetica", size=8)
        self.set_text_color(90, 90, 90)
        self.cell(0, 5, latin1(f"{self.pack_title} | {self.marking}"), align="L")
        self.set_x(self.l_margin)
        self.cell(0, 5, f"Page {self.page_no()} of {{nb}}", align="R")

    def heading(self, text: str, size: int = 16) -> None:
        self.set_font("Helvetica", "B", size)
        self.set_text_color(*NHS_BLUE)
        self.multi_cell(0, size * 0.5, latin1(text), new_x="LMARGIN", new_y="NEXT")
        self.set_text_color(0, 0, 0)
        self.ln(2)

    def line_text(self, text: str, size: int = 11, style: str = "") -> None:
        self.set_font("Helvetica", style, size)
        self.multi_cell(0, 6, latin1(text), new_x="LMARGIN", new_y="NEXT")


def _cover(pdf: _Pack, body: Body, meeting: Meeting, public: bool, now: datetime) -> None:
    pdf.add_page()
    pdf.ln(40)
    pdf.heading(body.name, 22)
    pdf.heading("Board pack", 18)
    pdf.line_text(f"Meeting: {_when(meeting.starts_at)}")
    if meeting.location:
        pdf.line_text(f"Where: {meeting.location}")
    pdf.ln(6)
    if public:
        pdf.line_text(
            "Public version: the published papers of the meeting's public part.", style="B"
        )
    else:
        pdf.line_text(
            "Members' version: includes the private part. Confidential, not for publication.",
            style="B",
        )
    pdf.line_text(f"Built {_when(now)} (UK time).", size=9)


def _agenda(pdf: _Pack, items: list[Item], public: bool) -> None:
    pdf.add_page()
    pdf.heading("Agenda")
    headings = ("No.", "Item", "For", "Presenter") if public else ("No.", "Item", "Part", "For")
    widths = (12, 110, 30, 38) if public else (12, 118, 26, 34)
    pdf.set_font("Helvetica", size=10)
    with pdf.table(col_widths=widths, text_align="LEFT", first_row_as_headings=True) as table:
        table.row(headings)
        for item in items:
            middle = item.purpose.title() if public else item.part.title()
            last = (item.presenter or "") if public else item.purpose.title()
            table.row([str(item.number), latin1(item.title), middle, latin1(last)])
    if not items:
        pdf.line_text("No items have been published yet.")


def _item(pdf: _Pack, item: Item, files: list, public: bool) -> None:
    pdf.add_page()
    pdf.heading(f"Item {item.number}: {item.title}")
    facts = [f"For {item.purpose}"]
    if not public:
        facts.insert(0, f"{item.part.title()} part")
    if item.presenter:
        facts.append(f"Presented by {item.presenter}")
    if item.published_at is None:
        facts.append("not yet published")
    pdf.line_text(". ".join(facts) + ".", size=10, style="I")
    pdf.ln(3)
    if item.paper:
        pdf.set_font("Helvetica", size=11)
        pdf.write_html(latin1(str(render_markdown(item.paper))))
    for found in files:
        pdf.ln(3)
        pdf.line_text(
            f"Paper provided as a PDF: {found.filename} ({found.size_bytes / 1024:.0f} KB), "
            f"published with this item on the board portal.",
            size=10,
        )
    if not item.paper and not files:
        pdf.line_text("No paper for this item.", size=10)


def board_pack(session: Session, meeting_id: int, public: bool, now: datetime) -> bytes:
    """The meeting's board pack as PDF bytes; `public` keeps the published public items only."""
    meeting = services.get(session, Meeting, meeting_id)
    body = services.get(session, Body, meeting.body_id)
    items = services.items_of(session, meeting_id, public_only=public)
    files = paper_files.files_of(session, [i.id for i in items])
    marking = "Public" if public else "Confidential: includes the private part"
    title = f"{body.name}, {_when(meeting.starts_at)}"
    pdf = _Pack(latin1(title), marking)
    _cover(pdf, body, meeting, public, now)
    _agenda(pdf, items, public)
    for item in items:
        _item(pdf, item, files[item.id], public)
    return bytes(pdf.output())
