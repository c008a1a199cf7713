"""Looking inside files: is this really an image (and how big), what text does this PDF hold.

Both are CPU work on caller-supplied bytes, so the nodes run them in a worker thread
(`asyncio.to_thread`) and the event loop keeps serving other requests meanwhile.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass

import pypdfium2 as pdfium
from PIL import Image, UnidentifiedImageError

from clara_runner.flow.budget import ValueTooLarge
from clara_runner.flow.errors import NodeError

_SPACES = re.compile(r"\s+")
_TRAILING_SPACES = re.compile(r"[ \t]+\n")
_MANY_BLANK_LINES = re.compile(r"\n{3,}")


@dataclass(frozen=True, slots=True)
class ImageInfo:
    media_type: str
    format: str
    width: int
    height: int


def inspect_image(data: bytes) -> ImageInfo:
    """What the image is, after checking that Pillow can read it whole; raises `NodeError` if it cannot.

    Pillow's decompression-bomb guard (`Image.MAX_IMAGE_PIXELS`) stays on: an image that claims
    billions of pixels is refused before anything is decoded.
    """
    try:
        with Image.open(io.BytesIO(data)) as image:
            width, height = image.size
            image_format = image.format or ""
            limit = Image.MAX_IMAGE_PIXELS
            if limit is not None and width * height > limit:
                raise NodeError(f"the image is too large to process: {width}x{height} pixels, more than {limit}")
            image.verify()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise NodeError(f"the image is too large to process: {exc}") from exc
    except UnidentifiedImageError as exc:
        raise NodeError("the file is not an image in a format this server can read (PNG, JPEG, GIF, WebP...)") from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise NodeError(f"the image is damaged or truncated: {exc}") from exc
    media_type = Image.MIME.get(image_format, f"image/{image_format.lower()}")
    return ImageInfo(media_type, image_format, width, height)


@dataclass(frozen=True, slots=True)
class PdfText:
    text: str
    pages_read: int
    pages_total: int


def pdf_text(data: bytes, max_pages: int, preserve_formatting: bool, max_chars: int) -> PdfText:
    """The text of the first `max_pages` pages, as Studio lays it out: `"Page N:\\n<text>"` blocks
    separated by a blank line, pages without text left out.

    With `preserve_formatting` the page's own line breaks are kept; without it each page's
    whitespace is collapsed into single spaces. A small PDF can inflate to gigabytes of text: each
    page's characters are counted before they are read, and a document whose text passes `max_chars`
    fails with `ValueTooLarge` instead of being read in full.
    """
    try:
        document = pdfium.PdfDocument(data)
    except pdfium.PdfiumError as exc:
        reason = str(exc)
        if "password" in reason.lower():
            raise NodeError("the PDF is password-protected; send an unencrypted PDF") from exc
        raise NodeError(f"the file is not a readable PDF ({reason})") from exc
    try:
        total = len(document)
        pages_read = min(total, max_pages)
        blocks = []
        budget = max_chars
        for index in range(pages_read):
            page_text = _page_text(document, index, preserve_formatting, budget)
            budget -= len(page_text)
            if page_text:
                blocks.append(f"Page {index + 1}:\n{page_text}")
        return PdfText("\n\n".join(blocks), pages_read, total)
    finally:
        document.close()


def _page_text(document: pdfium.PdfDocument, index: int, preserve_formatting: bool, budget: int) -> str:
    page = document[index]
    try:
        text_page = page.get_textpage()
        try:
            if text_page.count_chars() > budget:
                raise ValueTooLarge(
                    f"the PDF's text passes the {budget:,} characters left of what one value may hold "
                    f"(MAX_VALUE_SIZE) at page {index + 1}"
                )
            raw = text_page.get_text_range()
        finally:
            text_page.close()
    finally:
        page.close()
    text = raw.replace("\r\n", "\n").replace("\r", "\n")
    if not preserve_formatting:
        return _SPACES.sub(" ", text).strip()
    text = _TRAILING_SPACES.sub("\n", text)
    return _MANY_BLANK_LINES.sub("\n\n", text).strip()
