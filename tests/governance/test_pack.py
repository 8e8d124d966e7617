"""The board pack PDF (public: published public items only; members': every item, marked
confidential) and papers uploaded as PDF (checked to be a PDF, stored, publishable)."""

from __future__ import annotations

import re
import zlib
from datetime import UTC, datetime, timedelta

import pytest
from fpdf import FPDF
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from integrated_care.governance import pack, paper_files, services
from integrated_care.governance.services import GovernanceError
from integrated_care.governance.voice_models import PaperFile
from tests.governance.conftest import MEETING_AT, SECRETARY, Board

PRIVATE = "Settlement of a staff grievance"
DRAFT = "Draft strategy not yet published"
NOW = datetime(2027, 3, 1, 9, tzinfo=UTC)


def pdf_text(content: bytes) -> str:
    """The text drawn on a PDF's pages (fpdf2 compresses each page's stream with zlib)."""
    assert content.startswith(b"%PDF-") and content.rstrip().endswith(b"%%EOF")
    streams = re.findall(rb"stream\r?\n(.*?)\r?\nendstream", content, re.S)
    text = []
    for raw in streams:
        try:
            data = zlib.decompress(raw)
        except zlib.error:
            continue
        text += [s.decode("latin-1") for s in re.findall(rb"\((.*?)\)\s*Tj", data)]
    return re.sub(r"\s+", " ", " ".join(text))


def small_pdf(title: str = "Annex") -> bytes:
    doc = FPDF()
    doc.add_page()
    doc.set_font("Helvetica", size=12)
    doc.cell(0, 10, title)
    return bytes(doc.output())


@pytest.fixture
def items(footprint_session: Session, board: Board) -> dict[str, int]:
    s = footprint_session
    services.publish_item(s, SECRETARY, board.item_id, at=MEETING_AT - timedelta(days=8))
    private = services.add_item(
        s, SECRETARY, meeting_id=board.meeting_id, title=PRIVATE, part="private",
        purpose="decision", paper="Confidential: the settlement figure is £40,000.",
    )  # fmt: skip
    services.publish_item(s, SECRETARY, private.id, at=MEETING_AT - timedelta(days=8))
    draft = services.add_item(
        s, SECRETARY, meeting_id=board.meeting_id, title=DRAFT, part="public",
        purpose="discussion", paper="Draft.",
    )  # fmt: skip
    return {"public": board.item_id, "private": private.id, "draft": draft.id}


def test_public_pack_holds_only_published_public_papers(
    footprint_session: Session, board: Board, items: dict[str, int]
) -> None:
    text = pdf_text(pack.board_pack(footprint_session, board.meeting_id, public=True, now=NOW))
    assert "Board pack" in text and "Public version" in text
    assert "Item 1: Award of the elective recovery contract" in text
    assert "Approve the award." in text  # the Markdown paper itself
    for hidden in (PRIVATE, "settlement figure", DRAFT, "Confidential"):
        assert hidden not in text, hidden
    assert "Page 3 of 3" in text and "Page 4" not in text  # cover, agenda, one paper


def test_members_pack_holds_every_item_marked_confidential(
    footprint_session: Session, board: Board, items: dict[str, int]
) -> None:
    text = pdf_text(pack.board_pack(footprint_session, board.meeting_id, public=False, now=NOW))
    assert "Members' version: includes the private part" in text
    assert f"Item 2: {PRIVATE}" in text and "the settlement figure is \xa340,000" in text
    assert f"Item 3: {DRAFT}" in text and "not yet published" in text
    assert text.count("Confidential: includes the private part") == 5  # every page's footer


def test_text_is_reduced_to_what_the_core_font_can_draw() -> None:
    assert pack.latin1("“Care” – closer… £5 ✓") == '"Care" - closer... \xa35 ?'


def test_a_pdf_paper_is_stored_and_can_be_published(
    footprint_session: Session, board: Board
) -> None:
    item = services.add_item(
        footprint_session, SECRETARY, meeting_id=board.meeting_id, title="Annual report",
        part="public", purpose="information",
    )  # fmt: skip
    with pytest.raises(GovernanceError, match="write the paper, or upload it as a PDF"):
        services.publish_item(footprint_session, SECRETARY, item.id)
    content = small_pdf()
    row = paper_files.attach(footprint_session, SECRETARY, item.id, "../Annual report.pdf", content)
    assert (row.filename, row.size_bytes) == ("Annual report.pdf", len(content))
    assert paper_files.get_file(footprint_session, row.id, public=True) is None  # unpublished
    services.publish_item(footprint_session, SECRETARY, item.id)
    assert paper_files.get_file(footprint_session, row.id, public=True).content == content
    text = pdf_text(pack.board_pack(footprint_session, board.meeting_id, public=True, now=NOW))
    assert "Paper provided as a PDF: Annual report.pdf" in text


@pytest.mark.parametrize(
    ("name", "content", "problem"),
    [
        ("paper.docx", b"%PDF-1.7 ... %%EOF", "must be a .pdf file"),
        ("paper.pdf", b"", "paper.pdf is empty"),
        ("paper.pdf", b"<html>not a pdf</html>\n%%EOF", "does not start with the PDF header"),
        ("paper.pdf", b"%PDF-1.7\n1 0 obj", "end-of-file marker is missing"),
        ("paper.pdf", b"%PDF-" + b"0" * paper_files.MAX_BYTES + b"%%EOF", "the limit is 10 MB"),
    ],
)
def test_an_upload_that_is_not_a_pdf_is_refused_and_nothing_stored(
    footprint_session: Session, board: Board, name: str, content: bytes, problem: str
) -> None:
    with pytest.raises(GovernanceError, match=problem):
        paper_files.attach(footprint_session, SECRETARY, board.item_id, name, content)
    assert footprint_session.scalar(select(func.count()).select_from(PaperFile)) == 0
