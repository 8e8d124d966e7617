"""Papers written in Markdown, rendered safely: raw HTML in a paper is shown as text, never
passed through, and links with unsafe schemes (javascript:, data: ...) are not made links.

A paper's headings are moved one level down (# becomes h2), so the page's own title stays the
only h1."""

from __future__ import annotations

from functools import lru_cache

from markdown_it import MarkdownIt
from markupsafe import Markup


@lru_cache(maxsize=1)
def _parser() -> MarkdownIt:
    return MarkdownIt("commonmark", {"html": False}).enable("table")


def render_markdown(text: str | None) -> Markup:
    """HTML for a paper, safe to put in a page."""
    parser = _parser()
    tokens = parser.parse(text or "")
    for token in tokens:
        if token.type in ("heading_open", "heading_close"):
            token.tag = f"h{min(int(token.tag[1]) + 1, 6)}"
    html = parser.renderer.render(tokens, parser.options, {})
    return Markup(html)  # noqa: S704 - html is disabled: every input character is escaped
