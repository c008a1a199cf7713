"""Multipart execute bodies become the JSON object the same inputs would have been sent as."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from clara_runner.contract.multipart import MAX_PARTS, MalformedMultipart, is_multipart, parse_multipart
from clara_runner.contract.schema import ApiField
from tests.uploads import multipart, png

IMAGE: dict[str, Any] = {"type": "string", "contentEncoding": "base64", "contentMediaType": "image/*"}
PDF: dict[str, Any] = {"type": "string", "contentEncoding": "base64", "contentMediaType": "application/pdf"}
SCHEMAS: dict[str, dict[str, Any]] = {
    "photo": IMAGE,
    "document": PDF,
    "title": {"type": "string"},
    "count": {"type": "number"},
    "settings": {"anyOf": [{"type": "object", "additionalProperties": True}, {"type": "array", "items": {}}]},
    "legacy": {"type": ["object", "array"]},
    "anything": {},
}
FIELDS = tuple(ApiField(name, f"node-{name}", "test", name, schema, False) for name, schema in SCHEMAS.items())


def _parse(data: dict[str, str] | None = None, files: dict[str, Any] | None = None) -> dict[str, Any]:
    body, content_type = multipart(data, files)
    return parse_multipart(body, content_type, FIELDS)


def test_file_parts_become_data_urls_with_their_content_type_and_file_name() -> None:
    image = png()
    pdf = b"%PDF-1.4\n\x00\xff binary\n%%EOF"
    parsed = _parse(files={"photo": ("red.png", image, "image/png"), "document": ("doc.pdf", pdf, "application/pdf")})
    assert parsed == {
        "photo": "data:image/png;name=red.png;base64," + base64.b64encode(image).decode(),
        "document": "data:application/pdf;name=doc.pdf;base64," + base64.b64encode(pdf).decode(),
    }


def test_a_file_name_is_percent_encoded_so_the_data_url_stays_well_formed() -> None:
    parsed = _parse(files={"document": ("my report;v=2,final é.pdf", b"%PDF-", "application/pdf")})
    assert parsed["document"].startswith("data:application/pdf;name=my%20report%3Bv%3D2%2Cfinal%20%C3%A9.pdf;base64,")


def test_a_file_part_is_recognised_by_its_content_type_when_it_has_no_file_name() -> None:
    image = png()
    body = (
        b"--x\r\nContent-Disposition: form-data; name=\"photo\"; filename*=utf-8''caf%C3%A9.png\r\n"
        b"Content-Type: image/png\r\n\r\n" + image + b"\r\n--x--\r\n"
    )
    parsed = parse_multipart(body, "multipart/form-data; boundary=x", FIELDS)
    assert parsed == {"photo": "data:image/png;base64," + base64.b64encode(image).decode()}


def test_a_part_without_a_specific_content_type_takes_the_fields_or_a_generic_one() -> None:
    concrete = (ApiField("photo", "n", "t", "photo", {**IMAGE, "contentMediaType": "image/jpeg"}, False),)
    body, content_type = multipart(files={"photo": ("a", b"\xff\xd8", "application/octet-stream")})
    assert parse_multipart(body, content_type, concrete)["photo"].startswith("data:image/jpeg;name=a;base64,")
    generic = _parse(files={"photo": ("a", b"\xff\xd8", "application/octet-stream")})["photo"]
    assert generic.startswith("data:application/octet-stream;name=a;base64,")
    with_parameters = _parse(files={"photo": ("a", b"GIF8", "image/GIF; q=1")})["photo"]
    assert with_parameters.startswith("data:image/gif;name=a;base64,")


def test_other_parts_are_text_or_json_by_the_fields_type() -> None:
    parsed = _parse(
        data={"title": "42", "count": "42.5", "settings": '{"depth": 2}', "anything": "[1]", "unknown": "7"}
    )
    assert parsed == {"title": "42", "count": 42.5, "settings": {"depth": 2}, "anything": "[1]", "unknown": "7"}
    assert _parse(data={"count": "many"}) == {"count": "many"}
    assert _parse(files={"settings": ("s.json", b'[1, "two"]', "application/json")}) == {"settings": [1, "two"]}
    assert _parse(data={"legacy": '{"stored": "before anyOf"}'}) == {"legacy": {"stored": "before anyOf"}}
    as_text = "data:image/png;base64,iVBORw0KGgo="
    assert _parse(data={"photo": as_text}) == {"photo": as_text}


def test_an_empty_body_is_an_empty_object() -> None:
    assert parse_multipart(b"", "multipart/form-data; boundary=x", FIELDS) == {}


@pytest.mark.parametrize(
    ("body", "content_type", "says"),
    [
        (b"--x\r\n", "multipart/form-data", "boundary"),
        (b"garbage", "multipart/form-data; boundary=x", "malformed"),
        (
            b'--x\r\nContent-Disposition: form-data; name="title"\r\n\r\nunfinished',
            "multipart/form-data; boundary=x",
            "closing boundary",
        ),
        (b"--x\r\nContent-Disposition: form-data\r\n\r\nv\r\n--x--\r\n", "multipart/form-data; boundary=x", "name"),
        (
            b'--x\r\nContent-Disposition: form-data; name="title"\r\n\r\n\xff\xfe\r\n--x--\r\n',
            "multipart/form-data; boundary=x",
            "UTF-8",
        ),
        (
            b'--x\r\nContent-Disposition: form-data; name="\xff"\r\n\r\nv\r\n--x--\r\n',
            "multipart/form-data; boundary=x",
            "UTF-8",
        ),
    ],
)
def test_malformed_bodies_are_refused_with_a_reason(body: bytes, content_type: str, says: str) -> None:
    with pytest.raises(MalformedMultipart) as caught:
        parse_multipart(body, content_type, FIELDS)
    assert caught.value.status == 400
    assert caught.value.code == "malformed_multipart"
    assert says.lower() in caught.value.message.lower()


def test_a_field_sent_twice_or_too_many_parts_are_refused() -> None:
    body = b'--x\r\nContent-Disposition: form-data; name="title"\r\n\r\na\r\n' * 2 + b"--x--\r\n"
    with pytest.raises(MalformedMultipart, match="more than once"):
        parse_multipart(body, "multipart/form-data; boundary=x", FIELDS)
    many = b"".join(
        b'--x\r\nContent-Disposition: form-data; name="f%d"\r\n\r\nv\r\n' % index for index in range(MAX_PARTS + 1)
    )
    with pytest.raises(MalformedMultipart, match="parts"):
        parse_multipart(many + b"--x--\r\n", "multipart/form-data; boundary=x", FIELDS)


def test_only_multipart_form_data_is_recognised() -> None:
    assert is_multipart("multipart/form-data; boundary=abc")
    assert is_multipart("Multipart/Form-Data")
    assert not is_multipart("application/json")
    assert not is_multipart("multipart/mixed; boundary=abc")
    assert not is_multipart(None)
