"""The docs pages in a real browser: they render, try-it-out runs against the live server, nothing is
requested from another host, no inline script is needed, and names are shown as text, never run."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2
import pytest
from playwright.sync_api import Browser, ConsoleMessage, Dialog, Page, Request

from tests.support import HELLO_WORLD, LiveServer, bearer

TIMEOUT_MS = 20_000


@pytest.fixture(scope="module")
def live_server(module_live_server: LiveServer) -> LiveServer:
    """One server for the module: the pages only read, and the one execution goes to a deployment of its own."""
    return module_live_server


@pytest.fixture(scope="module")
def hello_world(live_server: LiveServer) -> dict[str, Any]:
    """`Hello World`, deployed once for the pages that show it."""
    return deploy_live(live_server, "Hello World")


@pytest.fixture
def screenshot_dir(tmp_path: Path) -> Path:
    """Where screenshots go (kept with the test's temporary files, for a person to look at)."""
    return tmp_path


@dataclass
class Recorded:
    requests: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)
    console: list[str] = field(default_factory=list)

    def foreign(self, base_url: str) -> list[str]:
        return [url for url in self.requests if not url.startswith((base_url + "/", "data:", "blob:"))]

    def policy_violations(self) -> list[str]:
        return [text for text in self.console if "Content Security Policy" in text]


@contextmanager
def recorded_page(browser: Browser) -> Iterator[tuple[Page, Recorded]]:
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    recorded = Recorded()

    def on_dialog(dialog: Dialog) -> None:
        recorded.dialogs.append(dialog.message)
        dialog.dismiss()

    def on_request(request: Request) -> None:
        recorded.requests.append(request.url)

    def on_console(message: ConsoleMessage) -> None:
        recorded.console.append(message.text)

    page.on("request", on_request)
    page.on("dialog", on_dialog)
    page.on("console", on_console)
    try:
        yield page, recorded
    finally:
        context.close()


def deploy_live(server: LiveServer, name: str, workflow: Any = None) -> dict[str, Any]:
    response = httpx2.post(
        f"{server.base_url}/api/deploy", json={"name": name, "workflow": workflow or HELLO_WORLD}, timeout=10
    )
    assert response.status_code == 201, response.text
    deployment: dict[str, Any] = response.json()["deployment"]
    return deployment


def test_swagger_ui_renders_offline_and_try_it_out_executes(
    browser: Browser, live_server: LiveServer, hello_world: dict[str, Any]
) -> None:
    deployment = hello_world
    with recorded_page(browser) as (page, recorded):
        page.goto(f"{live_server.base_url}/api/workflows/hello-world/docs")
        summary = page.locator(".opblock-summary-path", has_text="/api/workflows/hello-world/execute")
        summary.wait_for()
        assert page.locator(".clara-snippet[data-language='python']").text_content() or "".startswith("import requests")
        assert "text/event-stream" in (
            page.locator(".clara-snippet[data-language='pythonStream']").text_content() or ""
        )
        assert "respond-async" in (page.locator(".clara-snippet[data-language='javascriptAsync']").text_content() or "")
        for path in ("/api/executions/{executionId}", "/api/executions/{executionId}/events"):
            page.locator(f".opblock-summary-path[data-path='{path}']").first.wait_for()
        page.locator(".opblock-summary-path[data-path='/api/executions/{executionId}/cancel']").wait_for()

        page.locator("button.authorize").first.click()
        page.locator(".modal-ux input").first.fill(deployment["apiKey"])
        page.locator(".modal-ux button.authorize").click()
        page.locator(".modal-ux button.btn-done").click()

        summary.click()
        body = page.locator(".opblock-body textarea.body-param__text")
        body.wait_for()
        body.fill('{"name": "Browser"}')
        page.locator("button.execute").click()
        live = page.locator(".live-responses-table .response-col_status", has_text="200")
        live.wait_for()
        assert '"greeting": "Browser"' in page.locator(".live-responses-table .microlight").first.inner_text()

        assert recorded.foreign(live_server.base_url) == []
        assert recorded.policy_violations() == []
        assert f"{live_server.base_url}/api/workflows/hello-world/execute" in recorded.requests

    history = httpx2.get(
        f"{live_server.base_url}/api/workflows/hello-world/executions", headers=bearer(deployment["apiKey"])
    )
    assert [entry["inputs"] for entry in history.json()["executions"]] == [{"name": "Browser"}]


@pytest.mark.usefixtures("hello_world")
def test_redoc_renders_the_operation_and_code_samples_offline(
    browser: Browser, live_server: LiveServer, screenshot_dir: Path
) -> None:
    with recorded_page(browser) as (page, recorded):
        page.goto(f"{live_server.base_url}/api/workflows/hello-world/redoc")
        page.get_by_role("heading", name="Execute Hello World").wait_for()
        page.screenshot(path=str(screenshot_dir / "redoc.png"))
        page.get_by_role("tab", name="Python (requests)").click()
        page.get_by_text("import requests").first.wait_for()
        page.get_by_role("tab", name="Python (httpx): stream the run's events").first.click()
        page.get_by_text('"Accept": "text/event-stream"').first.wait_for()
        for heading in ("The run: status, inputs, outputs, trace", "The run's events", "Cancel the run"):
            page.get_by_role("heading", name=heading).wait_for()
        page.get_by_text("runFinished").first.wait_for()
        page.wait_for_load_state("networkidle")
        assert recorded.foreign(live_server.base_url) == []
        assert recorded.policy_violations() == []


def test_management_docs_render_offline(browser: Browser, live_server: LiveServer) -> None:
    with recorded_page(browser) as (page, recorded):
        page.goto(f"{live_server.base_url}/api/docs")
        page.locator(".opblock-summary-path[data-path='/api/deploy']").wait_for()
        page.goto(f"{live_server.base_url}/api/redoc")
        page.get_by_role("heading", name="Deploy a workflow").wait_for()
        page.wait_for_load_state("networkidle")
        assert recorded.foreign(live_server.base_url) == []
        assert recorded.policy_violations() == []


def test_a_name_made_of_markup_is_shown_as_text_and_never_runs(
    browser: Browser, live_server: LiveServer, screenshot_dir: Path
) -> None:
    name = "<script>alert(1)</script><img src=x onerror=alert(2)>"
    slug = deploy_live(live_server, name)["slug"]
    for view in ("docs", "redoc"):
        with recorded_page(browser) as (page, recorded):
            page.goto(f"{live_server.base_url}/api/workflows/{slug}/{view}")
            heading = page.locator(".opblock-summary-description, h2", has_text=f"Execute {name}").first
            heading.wait_for()
            page.get_by_text(f"Deployed Clara workflow '{name}'").wait_for()
            page.screenshot(path=str(screenshot_dir / f"markup-{view}.png"))
            page.wait_for_load_state("networkidle")
            assert page.title() == f"{name} - API Documentation"
            assert recorded.dialogs == []
            assert page.locator("script:not([src])").count() == 0
            assert f"{live_server.base_url}/x" not in recorded.requests
            assert recorded.foreign(live_server.base_url) == []
