"""Papers uploaded as PDF: checked to be a PDF, stored in the database with the item, and served
publicly only when the item is in the public part and published (like a Markdown paper)."""

from __future__ import annotations

import hashlib
import re

from sqlalchemy import select
from sqlalchemy.orm import Session, defer

from integrated_care.governance.models import Item
from integrated_care.governance.services import Actor, GovernanceError, audit, get
from integrated_care.governance.voice_models import PaperFile

MAX_BYTES = 10 * 1024 * 1024
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._ -]+")


def check_pdf(filename: str, content: bytes) -> str:
    """The cleaned file name, or an error saying what is wrong with the upload."""
    name = _SAFE_NAME.sub("_", (filename or "").rsplit("/", 1)[-1].rsplit("\\", 1)[-1]).strip()
    if not name.lower().endswith(".pdf"):
        raise GovernanceError(f"the paper must be a .pdf file; {filename!r} is not")
    if not content:
        raise GovernanceError(f"{name} is empty")
    if len(content) > MAX_BYTES:
        raise GovernanceError(
            f"{name} is {len(content) / 1048576:.1f} MB; the limit is {MAX_BYTES // 1048576} MB"
        )
    if not content.startswith(b"%PDF-"):
        raise GovernanceError(f"{name} is not a PDF: it does not start with the PDF header")
    if b"%%EOF" not in content[-2048:]:
        raise GovernanceError(f"{name} is not a complete PDF: its end-of-file marker is missing")
    return name[:200]


def attach(
    session: Session, actor: Actor, item_id: int, filename: str, content: bytes
) -> PaperFile:
    """Store a PDF paper for an item (an item may have several, e.g. a paper and its annex)."""
    get(session, Item, item_id)
    name = check_pdf(filename, content)
    row = PaperFile(
        item_id=item_id,
        filename=name,
        content=content,
        size_bytes=len(content),
        sha256=hashlib.sha256(content).hexdigest(),
        uploaded_by=actor.username,
    )
    session.add(row)
    session.flush()
    audit(
        session,
        actor,
        "paper.upload",
        "item",
        item_id,
        {"file": row.id, "bytes": row.size_bytes, "sha256": row.sha256},
    )
    return row


def files_of(session: Session, item_ids: list[int]) -> dict[int, list[PaperFile]]:
    """Each item's PDF papers (without their contents), oldest first."""
    rows = session.scalars(
        select(PaperFile)
        .options(defer(PaperFile.content))
        .where(PaperFile.item_id.in_(item_ids))
        .order_by(PaperFile.id)
    ).all()
    found: dict[int, list[PaperFile]] = {i: [] for i in item_ids}
    for row in rows:
        found[row.item_id].append(row)
    return found


def get_file(session: Session, file_id: int, public: bool) -> PaperFile | None:
    """A stored PDF; `public` finds it only when its item is public and published."""
    row = session.get(PaperFile, file_id)
    if row is None:
        return None
    item = session.get(Item, row.item_id)
    if public and (item is None or item.part != "public" or item.published_at is None):
        return None
    return row
