from __future__ import annotations

import base64
from typing import Any

import pytest

from clara_runner.flow.context import HttpClients
from clara_runner.flow.errors import NodeError
from clara_runner.flow.nodes.api_request import ApiRequestNode
from tests.fakes.http_api import BYTES, FakeHttpApi
from tests.flow.nodes.remote_calls import node_call

NODE = ApiRequestNode()
FAST = {"retryDelay": 1}


async def request(http: HttpClients, data: dict[str, Any], inputs: dict[str, Any]) -> dict[str, Any]:
    return dict(await NODE.run(node_call(NODE, http, {**FAST, **data}, inputs)))


async def test_get_with_params_and_headers_returns_every_output(
    http_api: FakeHttpApi, http_clients: HttpClients
) -> None:
    inputs = {
        "url": f"{http_api.url}/anything/search?fixed=1",
        "params": {"q": "clara verse", "n": 2, "skip": None},
        "headers": {"X-From-Input": "yes"},
    }

    result = await request(http_clients, {"headers": {"X-From-Data": "also"}}, inputs)

    echoed = result["data"]
    assert echoed["method"] == "GET"
    assert echoed["query"] == {"fixed": ["1"], "q": ["clara verse"], "n": ["2"]}
    assert echoed["headers"]["user-agent"] == "ClaraVerse-API-Node/1.0"
    assert echoed["headers"]["x-from-input"] == "yes"
    assert echoed["headers"]["x-from-data"] == "also"
    assert "content-type" not in echoed["headers"]
    assert result["status"] == 200
    assert result["success"] is True
    assert result["headers"]["content-type"] == "application/json"
    metadata = result["metadata"]
    assert metadata["method"] == "GET"
    assert metadata["url"].startswith(f"{http_api.url}/anything/search?fixed=1&q=clara")
    assert metadata["retryCount"] == 0
    assert metadata["contentType"] == "application/json"
    assert metadata["size"] > 0
    assert metadata["timestamp"].endswith("Z")


@pytest.mark.parametrize(
    ("content_type", "body", "sent_type", "sent_body", "form"),
    [
        ("json", {"a": 1, "b": [True]}, "application/json", '{"a":1,"b":[true]}', None),
        ("json", '{"raw": "string"}', "application/json", '{"raw": "string"}', None),
        ("application/json", {"a": 0}, "application/json", '{"a":0}', None),
        ("form", {"a": "x y", "b": 2}, "application/x-www-form-urlencoded", "a=x+y&b=2", {"a": "x y", "b": "2"}),
        ("text", "hello", "text/plain", "hello", None),
        ("xml", "<a>1</a>", "application/xml", "<a>1</a>", None),
    ],
)
async def test_body_encodings(
    http_api: FakeHttpApi,
    http_clients: HttpClients,
    content_type: str,
    body: Any,
    sent_type: str,
    sent_body: str,
    form: dict[str, str] | None,
) -> None:
    result = await request(
        http_clients, {"method": "post", "contentType": content_type}, {"url": f"{http_api.url}/anything", "body": body}
    )

    echoed = result["data"]
    assert echoed["method"] == "POST"
    assert echoed["headers"]["content-type"] == sent_type
    assert echoed["body"] == sent_body
    assert echoed["form"] == form


async def test_multipart_bodies_are_form_fields(http_api: FakeHttpApi, http_clients: HttpClients) -> None:
    inputs = {"url": f"{http_api.url}/anything", "body": {"name": "clara", "count": 3}}

    result = await request(http_clients, {"method": "PUT", "contentType": "multipart"}, inputs)

    assert result["data"]["headers"]["content-type"].startswith("multipart/form-data; boundary=")
    assert result["data"]["form"] == {"name": "clara", "count": "3"}


async def test_custom_content_type_comes_from_the_headers(http_api: FakeHttpApi, http_clients: HttpClients) -> None:
    inputs = {"url": f"{http_api.url}/anything", "body": "a,b", "headers": {"Content-Type": "text/csv"}}

    result = await request(http_clients, {"method": "POST", "contentType": "custom"}, inputs)

    assert result["data"]["headers"]["content-type"] == "text/csv"
    assert result["data"]["body"] == "a,b"


async def test_get_sends_no_body(http_api: FakeHttpApi, http_clients: HttpClients) -> None:
    result = await request(http_clients, {}, {"url": f"{http_api.url}/anything", "body": {"ignored": True}})

    assert result["data"]["body"] == ""


@pytest.mark.parametrize(
    ("auth_type", "auth", "header", "value", "query"),
    [
        ("apiKey", {"key": "X-Key", "value": "k1", "location": "header"}, "x-key", "k1", {}),
        ("apiKey", {"key": "api_key", "value": "k2", "location": "query"}, None, None, {"api_key": ["k2"]}),
        ("bearer", {"token": "t0k"}, "authorization", "Bearer t0k", {}),
        (
            "basic",
            {"username": "ada", "password": "pw"},
            "authorization",
            "Basic " + base64.b64encode(b"ada:pw").decode(),
            {},
        ),
        ("custom", {"headerName": "X-Custom", "headerValue": "v"}, "x-custom", "v", {}),
        ("none", {"token": "unused"}, "authorization", None, {}),
    ],
)
async def test_auth_types(
    http_api: FakeHttpApi,
    http_clients: HttpClients,
    auth_type: str,
    auth: dict[str, str],
    header: str | None,
    value: str | None,
    query: dict[str, list[str]],
) -> None:
    result = await request(http_clients, {"authType": auth_type}, {"url": f"{http_api.url}/anything", "auth": auth})

    echoed = result["data"]
    if header is not None:
        assert echoed["headers"].get(header) == value
    assert echoed["query"] == query


@pytest.mark.parametrize(
    ("path", "response_type", "data"),
    [
        ("/anything", "auto", "json"),
        ("/json-as-text", "auto", {"from": "text"}),
        ("/json-as-text", "text", '{"from": "text"}'),
        ("/json-as-text", "json", {"from": "text"}),
        ("/text", "json", "plain text"),
        ("/xml", "auto", "<note><to>Clara</to></note>"),
        ("/bytes", "binary", base64.b64encode(BYTES).decode()),
    ],
)
async def test_response_types(
    http_api: FakeHttpApi, http_clients: HttpClients, path: str, response_type: str, data: Any
) -> None:
    result = await request(http_clients, {"responseType": response_type}, {"url": f"{http_api.url}{path}"})

    if data == "json":
        assert result["data"]["path"] == "/anything"
    else:
        assert result["data"] == data


async def test_a_4xx_fails_without_retrying(http_api: FakeHttpApi, http_clients: HttpClients) -> None:
    with pytest.raises(NodeError, match="HTTP Error: 404 Not Found"):
        await request(http_clients, {"retries": 3}, {"url": f"{http_api.url}/status/404"})

    assert len(http_api.requests) == 1


async def test_without_validate_status_an_error_status_is_a_result(
    http_api: FakeHttpApi, http_clients: HttpClients
) -> None:
    result = await request(http_clients, {"validateStatus": False}, {"url": f"{http_api.url}/status/500"})

    assert (result["status"], result["success"], result["data"]) == (500, False, {"status": 500})
    assert len(http_api.requests) == 1


async def test_5xx_is_retried_until_it_succeeds(http_api: FakeHttpApi, http_clients: HttpClients) -> None:
    http_api.fail_next(503, {"error": "busy"}, times=2)

    result = await request(http_clients, {"retries": 3}, {"url": f"{http_api.url}/anything"})

    assert result["success"] is True
    assert result["metadata"]["retryCount"] == 2
    assert len(http_api.requests) == 3


async def test_retries_give_up_with_the_last_error(http_api: FakeHttpApi, http_clients: HttpClients) -> None:
    http_api.fail_next(502, {"error": "bad gateway"}, times=5)

    with pytest.raises(NodeError, match="API request failed after 2 retries: HTTP Error: 502 Bad Gateway"):
        await request(http_clients, {"retries": 2}, {"url": f"{http_api.url}/anything"})
    assert len(http_api.requests) == 3


async def test_zero_retries_means_one_attempt(http_api: FakeHttpApi, http_clients: HttpClients) -> None:
    http_api.fail_next(503, {"error": "busy"})

    with pytest.raises(NodeError, match="after 0 retries"):
        await request(http_clients, {"retries": 0}, {"url": f"{http_api.url}/anything"})
    assert len(http_api.requests) == 1


async def test_network_errors_are_retried(http_api: FakeHttpApi, http_clients: HttpClients) -> None:
    http_api.drop_next()

    result = await request(http_clients, {"retries": 1}, {"url": f"{http_api.url}/anything"})

    assert result["metadata"]["retryCount"] == 1
    assert len(http_api.requests) == 2


async def test_timeouts_are_retried_then_reported(http_api: FakeHttpApi, http_clients: HttpClients) -> None:
    http_api.delay = 1.0

    with pytest.raises(NodeError, match=r"after 1 retries: no answer within 0\.05 s"):
        await request(http_clients, {"timeout": 50, "retries": 1}, {"url": f"{http_api.url}/anything"})
    assert len(http_api.requests) == 2


async def test_redirects_are_followed_unless_disabled(http_api: FakeHttpApi, http_clients: HttpClients) -> None:
    followed = await request(http_clients, {}, {"url": f"{http_api.url}/redirect"})
    kept = await request(
        http_clients, {"followRedirects": False, "validateStatus": False}, {"url": f"{http_api.url}/redirect"}
    )

    assert followed["data"]["path"] == "/anything/redirected"
    assert (kept["status"], kept["headers"]["location"]) == (302, "/anything/redirected")
    with pytest.raises(NodeError, match="HTTP Error: 302 Found"):
        await request(http_clients, {"followRedirects": False}, {"url": f"{http_api.url}/redirect"})


async def test_url_templates_fill_encoded_values(http_api: FakeHttpApi, http_clients: HttpClients) -> None:
    data = {"url": http_api.url + "/anything/?q={{topic}}&format=json&d={{absent}}"}

    result = await request(http_clients, data, {"topic": "cats & dogs"})

    assert result["data"]["query"] == {"q": ["cats & dogs"], "format": ["json"], "d": [""]}


@pytest.mark.parametrize(
    ("inputs", "message"),
    [({}, "a URL is required"), ({"url": "file:///etc/passwd"}, "URL must start with http:// or https://")],
)
async def test_bad_urls_fail_clearly(http_clients: HttpClients, inputs: dict[str, Any], message: str) -> None:
    with pytest.raises(NodeError, match=message):
        await request(http_clients, {}, inputs)


async def test_headers_must_be_an_object(http_api: FakeHttpApi, http_clients: HttpClients) -> None:
    with pytest.raises(NodeError, match="headers input must be an object"):
        await request(http_clients, {}, {"url": f"{http_api.url}/anything", "headers": ["not", "a", "map"]})
