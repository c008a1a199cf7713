from __future__ import annotations

import base64
import re
import struct
import zlib

import pytest

from clara_runner.contract.media import MediaCheck, data_url, sample_file, strip_data_url, tiny_pdf, tiny_png, tiny_wav


def test_tiny_png_is_a_well_formed_one_pixel_image() -> None:
    data = tiny_png()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    position, chunks = 8, []
    while position < len(data):
        (length,) = struct.unpack(">I", data[position : position + 4])
        kind = data[position + 4 : position + 8]
        payload = data[position + 8 : position + 8 + length]
        (crc,) = struct.unpack(">I", data[position + 8 + length : position + 12 + length])
        assert crc == zlib.crc32(kind + payload), kind
        chunks.append((kind, payload))
        position += 12 + length
    assert [kind for kind, _ in chunks] == [b"IHDR", b"IDAT", b"IEND"]
    width, height, depth, color, *_ = struct.unpack(">IIBBBBB", chunks[0][1])
    assert (width, height, depth, color) == (1, 1, 8, 6)
    assert len(zlib.decompress(chunks[1][1])) == 1 + 4  # filter byte + one RGBA pixel


def test_tiny_pdf_cross_reference_table_points_at_every_object() -> None:
    data = tiny_pdf()
    assert data.startswith(b"%PDF-1.4\n")
    assert data.rstrip().endswith(b"%%EOF")
    startxref = int(re.search(rb"startxref\n(\d+)\n", data).group(1))  # type: ignore[union-attr]
    assert data[startxref:].startswith(b"xref\n0 6\n")
    offsets = [int(offset) for offset in re.findall(rb"(\d{10}) 00000 n ", data)]
    assert len(offsets) == 5
    for number, offset in enumerate(offsets, start=1):
        assert data[offset:].startswith(f"{number} 0 obj".encode())
    length = int(re.search(rb"/Length (\d+)", data).group(1))  # type: ignore[union-attr]
    stream = data[data.index(b"stream\n") + 7 :]
    assert stream[length:].startswith(b"\nendstream")


def test_tiny_wav_header_sizes_match_the_file() -> None:
    data = tiny_wav()
    assert data[:4] == b"RIFF"
    assert data[8:12] == b"WAVE"
    assert struct.unpack("<I", data[4:8])[0] == len(data) - 8


@pytest.mark.parametrize(
    ("media_type", "expected_prefix"),
    [
        ("image/png", "data:image/png;base64,"),
        ("image/*", "data:image/png;base64,"),
        ("application/pdf", "data:application/pdf;base64,"),
        ("audio/mpeg", "data:audio/wav;base64,"),
        ("text/plain", "data:text/plain;base64,"),
        ("", "data:application/octet-stream;base64,"),
    ],
)
def test_every_sample_file_passes_its_own_media_check(media_type: str, expected_prefix: str) -> None:
    sample = sample_file(media_type)
    assert sample.startswith(expected_prefix)
    assert MediaCheck(media_type).problem(sample) is None


def test_media_check_accepts_raw_base64_and_data_urls() -> None:
    png = tiny_png()
    check = MediaCheck("image/png")
    assert check.problem(base64.b64encode(png).decode()) is None
    assert check.problem(data_url("image/png", png)) is None
    assert check.problem("data:image/png;charset=binary;base64," + base64.b64encode(png).decode()) is None


@pytest.mark.parametrize(
    ("media_type", "text", "fragment"),
    [
        ("image/png", "not base64!", "not valid base64"),
        ("image/png", "iVBORw0KGgo", "not valid base64"),
        ("image/png", base64.b64encode(b"%PDF-1.4 hello").decode(), "the decoded bytes are not one"),
        ("application/pdf", data_url("image/png", tiny_png()), "the decoded bytes are not one"),
        ("image/jpeg", base64.b64encode(b"plain text").decode(), "JPEG, GIF, WebP or BMP"),
    ],
)
def test_media_check_rejects_what_it_cannot_decode_or_recognise(media_type: str, text: str, fragment: str) -> None:
    problem = MediaCheck(media_type).problem(text)
    assert problem is not None
    assert fragment in problem


def test_types_without_a_signature_only_need_valid_base64() -> None:
    check = MediaCheck("application/octet-stream")
    assert check.problem(base64.b64encode(b"\x00\x01anything").decode()) is None
    assert check.problem("%%%") is not None


def test_strip_data_url_leaves_plain_text_alone() -> None:
    assert strip_data_url("aGVsbG8=") == "aGVsbG8="
    assert strip_data_url("data:text/plain;base64,aGVsbG8=") == "aGVsbG8="
    assert strip_data_url("data:text/plain,hello") == "data:text/plain,hello"
