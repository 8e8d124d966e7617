"""Papers and publication: Markdown rendered without letting HTML or script through, and clear
days counted as the days strictly between publication and the meeting."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from hypothesis import given
from hypothesis import strategies as st

from integrated_care.governance.papers import render_markdown
from integrated_care.governance.services import clear_days


def test_markdown_is_rendered_and_html_is_escaped() -> None:
    html = render_markdown(
        "# Plan\n\n**Approve** it.\n\n<script>alert(1)</script>\n\n"
        '<img src=x onerror="alert(2)">\n\n[click](javascript:alert(3))\n\n'
        "| a | b |\n|---|---|\n| 1 | 2 |"
    )
    assert "<h2>Plan</h2>" in html and "<strong>Approve</strong>" in html
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "<img" not in html and "&lt;img" in html
    assert 'href="javascript' not in html
    assert "<td>1</td>" in html


def test_clear_days_example() -> None:
    published = datetime(2027, 3, 7, 16, 0, tzinfo=UTC)
    meeting = datetime(2027, 3, 10, 10, 0, tzinfo=UTC)
    assert clear_days(published, meeting) == 2  # 8 and 9 March


@given(
    st.dates(min_value=date(2020, 1, 1), max_value=date(2030, 1, 1)),
    st.integers(min_value=0, max_value=60),
    st.times(),
    st.times(),
)
def test_clear_days_counts_whole_days_strictly_between(
    published_on: date, gap: int, at_publish: time, at_meeting: time
) -> None:
    meeting_on = published_on + timedelta(days=gap)
    between = [published_on + timedelta(days=n) for n in range(1, gap)]
    published = datetime.combine(published_on, at_publish, UTC)
    meeting = datetime.combine(meeting_on, at_meeting, UTC)
    assert clear_days(published, meeting) == (len(between) if gap else -1)
