from __future__ import annotations

import pytest

from clara_runner.flow.budget import ValueTooLarge
from clara_runner.flow.errors import NodeError
from clara_runner.flow.nodes.documents import inspect_image, pdf_text
from tests import samples


def test_inspect_image_reports_the_real_format_and_size() -> None:
    info = inspect_image(samples.jpeg(2, 3))
    assert (info.media_type, info.width, info.height) == ("image/jpeg", 2, 3)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"GIF89a but then nothing", "not an image"),
        (samples.pdf(["x"]), "not an image"),
        (samples.png(40, 40)[:-30], "damaged or truncated"),
        (samples.png_claiming_size(100_000, 100_000), "too large to process"),
    ],
)
def test_inspect_image_refuses_what_is_not_a_whole_image(data: bytes, message: str) -> None:
    with pytest.raises(NodeError, match=message):
        inspect_image(data)


def test_pdf_text_lays_out_pages_as_studio_does() -> None:
    document = samples.pdf(["Quarterly report", "Revenue grew"], [], ["Page three"])
    collapsed = pdf_text(document, 50, preserve_formatting=False, max_chars=10_000)
    assert collapsed.text == "Page 1:\nQuarterly report Revenue grew\n\nPage 3:\nPage three"
    assert (collapsed.pages_read, collapsed.pages_total) == (3, 3)
    preserved = pdf_text(document, 50, preserve_formatting=True, max_chars=10_000)
    assert preserved.text == "Page 1:\nQuarterly report\nRevenue grew\n\nPage 3:\nPage three"


def test_pdf_text_stops_at_max_pages() -> None:
    extracted = pdf_text(samples.pdf(["one"], ["two"], ["three"]), 2, preserve_formatting=False, max_chars=10_000)
    assert extracted.text == "Page 1:\none\n\nPage 2:\ntwo"
    assert (extracted.pages_read, extracted.pages_total) == (2, 3)


def test_pdf_text_refuses_a_damaged_pdf() -> None:
    with pytest.raises(NodeError, match="not a readable PDF"):
        pdf_text(b"%PDF-1.4\n garbage without objects", 50, preserve_formatting=False, max_chars=10_000)


def test_pdf_text_past_the_value_budget_is_refused_before_it_is_read() -> None:
    document = samples.pdf(["x" * 60], ["y" * 60], ["z" * 60])
    with pytest.raises(ValueTooLarge, match="at page 2"):
        pdf_text(document, 50, preserve_formatting=False, max_chars=100)
