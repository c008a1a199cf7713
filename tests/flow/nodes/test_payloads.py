from __future__ import annotations

import base64

import pytest

from clara_runner.flow.errors import NodeError
from clara_runner.flow.nodes.payloads import MB, accepts, decode, sniff
from tests import samples


def test_raw_base64_and_data_url_decode_to_the_same_bytes() -> None:
    image = samples.png()
    raw = decode(samples.b64(image), "the image", MB)
    url = decode(samples.data_url(image, "image/png"), "the image", MB)
    assert raw.data == url.data == image
    assert url.declared_type == "image/png"
    assert raw.media_type() == "image/png"


def test_base64_with_line_breaks_missing_padding_and_url_safe_alphabet_decodes() -> None:
    data = bytes(range(256))
    wrapped = "\n".join(base64.b64encode(data).decode()[i : i + 76] for i in range(0, 344, 76))
    assert decode(wrapped, "x", MB).data == data
    assert decode(base64.urlsafe_b64encode(data).decode().rstrip("="), "x", MB).data == data


def test_data_url_name_parameter_and_percent_encoded_text() -> None:
    payload = decode("data:text/csv;name=report%201.csv;base64,YSxiCjEsMgo=", "the file", MB)
    assert (payload.data, payload.declared_type, payload.name) == (b"a,b\n1,2\n", "text/csv", "report 1.csv")
    assert decode("data:text/plain,hello%20world", "the file", MB).data == b"hello world"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("not base64 at all!", "is not valid base64: it contains '!'"),
        ("abc$def", "is not valid base64: it contains '$'"),
        ("QUJD=QUJD", "is not valid base64: it contains '='"),
        ("A", "is not valid base64"),
        ("   ", "is empty"),
        ([1, 2, 300], "not of byte values"),
        ({"name": "x"}, "without a 'content' or 'base64' field"),
        (42, "not int"),
        (None, "not nothing"),
    ],
)
def test_values_that_are_not_files_are_refused_with_the_reason(value: object, message: str) -> None:
    with pytest.raises(NodeError, match="the file") as caught:
        decode(value, "the file", MB)
    assert message in str(caught.value)


def test_the_size_cap_is_checked_before_decoding() -> None:
    with pytest.raises(NodeError, match=r"too large: 1\.0 KB, more than the limit of 1000 bytes"):
        decode(samples.b64(b"x" * 1024), "the file", 1000)
    with pytest.raises(NodeError, match="too large"):
        decode(list(range(200)) * 6, "the file", 1000)


def test_byte_arrays_and_file_objects_decode() -> None:
    assert decode([104, 105], "audio", MB).data == b"hi"
    wrapped = decode({"content": samples.b64(b"hi"), "type": "text/plain", "name": "a.txt"}, "audio", MB)
    assert (wrapped.data, wrapped.declared_type, wrapped.name) == (b"hi", "text/plain", "a.txt")


@pytest.mark.parametrize(
    ("data", "media_type"),
    [
        (samples.png(), "image/png"),
        (samples.jpeg(), "image/jpeg"),
        (samples.pdf(["x"]), "application/pdf"),
        (samples.wav(), "audio/wav"),
        (b"ID3\x04\x00rest", "audio/mpeg"),
        (b"\xff\xfb\x90\x64rest", "audio/mpeg"),
        (b"OggS\x00\x02rest", "audio/ogg"),
        (b"fLaC\x00\x00\x00\x22", "audio/flac"),
        (b"\x00\x00\x00\x20ftypM4A \x00\x00", "audio/mp4"),
        ("héllo, wörld\n".encode(), "text/plain"),
        (b"\x00\x01\x02binary", ""),
    ],
)
def test_sniff_names_the_real_type(data: bytes, media_type: str) -> None:
    assert sniff(data) == media_type


def test_a_declared_type_does_not_override_the_bytes() -> None:
    payload = decode(samples.data_url(samples.pdf(["x"]), "image/png"), "the file", MB)
    assert payload.media_type() == "application/pdf"


@pytest.mark.parametrize(
    ("patterns", "media_type", "name", "accepted"),
    [
        ("*/*", "application/octet-stream", "", True),
        ("image/*,application/pdf", "image/png", "", True),
        ("image/*,application/pdf", "application/pdf", "", True),
        ("image/*,application/pdf", "text/plain", "", False),
        ("audio/wav", "audio/x-wav", "", True),
        (".txt,.md,.csv", "text/plain", "", True),
        (".csv", "text/plain", "", True),
        (".pdf", "application/pdf", "", True),
        (".pdf", "image/png", "", False),
        (".docx", "application/zip", "report.docx", True),
        ("image/*", "application/pdf", "", False),
    ],
)
def test_accepts_follows_html_accept_lists(patterns: str, media_type: str, name: str, accepted: bool) -> None:
    assert accepts(patterns, media_type, name) is accepted
