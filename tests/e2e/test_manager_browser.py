"""The Deployment Manager in a real browser (Debian's Chromium), against `clara-runner serve` with an admin
key and every external service a loopback fake: sign in, deploy each shared export through the dialog,
run it in the test console with its events streamed, read its history and trace, roll a version back,
undeploy. Every page is checked for requests to another host and by axe-core (no serious or critical
violation), and photographed into the test's output folder (printed at the end of the module).
"""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
import pytest
from playwright.sync_api import Browser, Page, expect

from tests import samples
from tests.e2e.test_docs_browser import Recorded, recorded_page
from tests.e2e.test_llm_workflows import pointed_at
from tests.fakes.clara_assistant import FakeClaraAssistant
from tests.fakes.clara_backend import FakeClaraBackend
from tests.fakes.http_api import FakeHttpApi
from tests.fakes.mcp_proxy import FakeMcpProxy
from tests.fakes.openai_server import FakeOpenAI
from tests.support import HELLO_WORLD, WORKFLOWS, LiveServer, bearer, server_env, shared_workflow

ADMIN_KEY = "manager-browser-admin-key-0123456789"
AXE = Path(__file__).parents[1] / "web" / "vendor" / "axe.min.js"
BLOCKING_IMPACTS = ("serious", "critical")


@dataclass
class Services:
    openai: FakeOpenAI
    assistant: FakeClaraAssistant
    mcp: FakeMcpProxy
    http_api: FakeHttpApi
    backend: FakeClaraBackend


@pytest.fixture(scope="module")
def services() -> Iterator[Services]:
    with ExitStack() as stack:
        yield Services(
            stack.enter_context(FakeOpenAI()),
            stack.enter_context(FakeClaraAssistant()),
            stack.enter_context(FakeMcpProxy.with_search_tool()),
            stack.enter_context(FakeHttpApi()),
            stack.enter_context(FakeClaraBackend()),
        )


@pytest.fixture(scope="module")
def manager(
    module_database_url: str, tmp_path_factory: pytest.TempPathFactory, services: Services
) -> Iterator[LiveServer]:
    env = server_env(
        module_database_url,
        tmp_path_factory.mktemp("manager") / "data",
        CLARA_ADMIN_KEY=ADMIN_KEY,
        OPENAI_API_BASE_URL=services.openai.base_url,
        OPENAI_API_KEY="sk-server-openai",
        CLARA_ASSISTANT_URL=services.assistant.url,
        MCP_PROXY_URL=services.mcp.url,
        PYTHON_BACKEND_URL=services.backend.url,
        EGRESS_ALLOW_CIDRS="127.0.0.0/8",
    )
    with LiveServer(env) as server:
        yield server


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`MANAGER_SCREENSHOTS` (a folder, created if missing) when set, else the module's own temporary
    folder under pytest's base temporary directory."""
    chosen = os.environ.get("MANAGER_SCREENSHOTS")
    if not chosen:
        return tmp_path_factory.mktemp("manager-screenshots")
    folder = Path(chosen)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="module")
def signed_in(browser: Browser, manager: LiveServer) -> Iterator[tuple[Page, Recorded]]:
    """One signed-in tab shared by the module's tests, recording every request it makes."""
    with recorded_page(browser) as (page, recorded):
        page.goto(f"{manager.base_url}/manage")
        page.locator("#admin-key").fill(ADMIN_KEY)
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_role("heading", name="Deployments")).to_be_visible()
        yield page, recorded


def inspect(page: Page, screenshots: Path, name: str) -> None:
    """Photograph the page, and fail on any serious or critical axe-core violation."""
    page.screenshot(path=screenshots / f"{name}.png", full_page=True)
    page.evaluate(AXE.read_text())
    results = page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    blocking = [
        f"{violation['id']} ({violation['impact']}): {[node['target'] for node in violation['nodes']][:3]}"
        for violation in results["violations"]
        if violation["impact"] in BLOCKING_IMPACTS
    ]
    assert blocking == [], f"{name}: {blocking}"


EXPORTS: dict[str, dict[str, Any]] = {
    "Testing_SDK_flow_sdk.json": {"input": "Say hello"},
    "agent-studio-export-example.json": {"textInput": "hello manager"},
    "audio-transcription.json": {"fileUpload": ("call.wav", "audio/wav", samples.wav())},
    "autonomous-research-agent.json": {"input": "Find out about loopback servers"},
    "content-summarizer.json": {"input": "A long text to summarise."},
    "custom-node-export-example.json": {"textInput": "custom"},
    "notebook-data-analysis.json": {"fileUpload": ("sales.csv", "text/csv", b"month,sales\njan,10\n")},
    "research-assistant-flow.json": {"researchTopic": "quantum computing", "analysisDepth": "Expert"},
    "simple-chat-assistant.json": {"howCanIHelpYou": "Plan my day"},
    "simple-llm-flow.json": {"tellMeWhatToDo": "plan my day"},
}
"""Each shared export and the inputs the console is given for it (a file as name, type and bytes)."""


def export_for(name: str, services: Services) -> Any:
    """The export as a user would deploy it here: its model server and search API pointed at the fakes."""
    workflow = pointed_at(shared_workflow(name), services.openai.base_url)
    if name == "research-assistant-flow.json":
        workflow = copy.deepcopy(workflow)
        search = next(node for node in workflow["nodes"] if node["id"] == "api-search")
        search["data"]["url"] = search["data"]["url"].replace(
            "https://api.duckduckgo.com/", f"{services.http_api.url}/anything"
        )
    return workflow


def deploy_through_dialog(page: Page, base_url: str, workflow: Any, by_file: Path | None = None) -> tuple[str, str]:
    """Paste (or pick) the export, wait for its preview, deploy; the slug and the key shown once."""
    page.goto(f"{base_url}/manage/deploy")
    if by_file is not None:
        by_file.write_text(json.dumps(workflow))
        page.locator("#workflow-file").set_input_files(by_file)
    else:
        page.locator("#workflow").fill(json.dumps(workflow))
    expect(page.locator("#endpoint-preview")).to_be_visible()
    expect(page.locator("#name")).not_to_have_value("")
    page.get_by_role("button", name="Deploy", exact=True).click()
    key = page.locator("#new-key")
    expect(key).to_be_visible()
    slug = (page.locator("[data-key-for]").get_attribute("data-key-for")) or ""
    return slug, key.inner_text().strip()


def run_in_console(page: Page, base_url: str, slug: str, inputs: dict[str, Any], tmp: Path) -> None:
    """Fill the console's generated form and run it; wait for the streamed run to end and its execution to load."""
    page.goto(f"{base_url}/manage/deployments/{slug}/console")
    expect(page.locator("#console-key")).not_to_have_value("")
    for field, value in inputs.items():
        control = page.locator(f"#input-{field}")
        if isinstance(value, tuple):
            file_name, _, data = value
            path = tmp / file_name
            path.write_bytes(data)
            control.set_input_files(path)
        else:
            control.fill(value)
    page.get_by_role("button", name="Run").click()
    expect(page.locator("#console-status")).to_contain_text("Finished")
    expect(page.locator("#console-execution #execution-status")).to_have_text("success")


def test_a_wrong_admin_key_is_refused_and_pages_need_a_session(
    browser: Browser, manager: LiveServer, screenshots: Path
) -> None:
    with recorded_page(browser) as (page, recorded):
        page.goto(f"{manager.base_url}/manage/deploy")
        expect(page).to_have_url(f"{manager.base_url}/manage/sign-in?next=/manage/deploy")
        inspect(page, screenshots, "00-sign-in")
        page.locator("#admin-key").fill("not-the-key")
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_role("alert")).to_contain_text("not the admin key")
        page.locator("#admin-key").fill(ADMIN_KEY)
        page.get_by_role("button", name="Sign in").click()
        expect(page).to_have_url(f"{manager.base_url}/manage/deploy")
        cookie = next(cookie for cookie in page.context.cookies() if cookie["name"] == "clara_manager")
        assert (cookie["httpOnly"], cookie["sameSite"], cookie["path"]) == (True, "Strict", "/manage")
        page.get_by_role("button", name="Sign out").click()
        expect(page).to_have_url(f"{manager.base_url}/manage/sign-in")
        page.goto(f"{manager.base_url}/manage")
        expect(page.locator("#admin-key")).to_be_visible()
        assert recorded.foreign(manager.base_url) == []


def test_the_first_export_through_every_page(
    signed_in: tuple[Page, Recorded], manager: LiveServer, services: Services, screenshots: Path, tmp_path: Path
) -> None:
    """The Studio SDK export, deployed from a picked file, walked through every page (photographed and
    checked by axe), in light theme and in dark."""
    page, recorded = signed_in
    base = manager.base_url
    inspect(page, screenshots, "01-deployments-empty")
    page.goto(f"{base}/manage/deploy")
    page.locator("#workflow").fill(json.dumps(export_for("Testing_SDK_flow_sdk.json", services)))
    expect(page.locator("#endpoint-preview")).to_have_text(f"{base}/api/workflows/testing-sdk/execute")
    expect(page.locator("#preview")).to_contain_text("slug free")
    expect(page.locator("#preview table.fields").first).to_contain_text("input")
    inspect(page, screenshots, "02-deploy-preview")

    slug, key = deploy_through_dialog(
        page, base, export_for("Testing_SDK_flow_sdk.json", services), tmp_path / "a.json"
    )
    assert (slug, key[:9]) == ("testing-sdk", "clara_sk_")
    assert key in page.locator("#snippet-curl").inner_text()
    inspect(page, screenshots, "03-deployed-key-once")

    run_in_console(page, base, slug, EXPORTS["Testing_SDK_flow_sdk.json"], tmp_path)
    expect(page.locator("#console-nodes li").first).to_be_visible()
    expect(page.locator("#console-execution .timeline svg")).to_be_visible()
    inspect(page, screenshots, "04-test-console")

    page.goto(f"{base}/manage/deployments/{slug}/history")
    expect(page.locator("table.list tbody tr")).to_have_count(1)
    inspect(page, screenshots, "05-history")
    page.locator("table.list tbody a").first.click()
    expect(page.locator("#execution-status")).to_have_text("success")
    expect(page.locator(".timeline .bar").first).to_be_visible()
    inspect(page, screenshots, "06-execution-trace")

    page.goto(f"{base}/manage/deployments/{slug}")
    expect(page.locator("#stats-runs")).to_have_text("1")
    run_in_console(page, base, slug, EXPORTS["Testing_SDK_flow_sdk.json"], tmp_path)
    page.goto(f"{base}/manage/deployments/{slug}")
    expect(page.locator("#stats-runs")).to_have_text("2")
    expect(page.locator("rect.run.success")).to_have_count(1)
    inspect(page, screenshots, "07-overview")
    page.goto(f"{base}/manage/deployments/{slug}/history")
    expect(page.locator("table.list tbody tr")).to_have_count(2)
    page.goto(f"{base}/manage/deployments/{slug}/docs")
    expect(page.locator("#snippet-pythonStream")).to_contain_text("text/event-stream")
    inspect(page, screenshots, "08-docs")

    page.goto(f"{base}/manage")
    expect(page.locator("table.list")).to_contain_text(slug)
    expect(page.locator("#health")).to_contain_text("healthy")
    inspect(page, screenshots, "09-deployments")
    page.locator("#theme-toggle").click()
    assert page.evaluate("document.documentElement.dataset.theme") == "dark"
    page.reload()
    inspect(page, screenshots, "10-deployments-dark")
    page.goto(f"{base}/manage/deployments/{slug}/console")
    inspect(page, screenshots, "11-console-dark")
    page.locator("#theme-toggle").click()
    assert recorded.foreign(base) == []
    assert recorded.policy_violations() == []


@pytest.mark.parametrize("export", [name for name in EXPORTS if name != "Testing_SDK_flow_sdk.json"])
def test_each_shared_export_deploys_through_the_dialog_and_runs_in_the_console(
    signed_in: tuple[Page, Recorded], manager: LiveServer, services: Services, export: str, tmp_path: Path
) -> None:
    page, recorded = signed_in
    slug, _ = deploy_through_dialog(page, manager.base_url, export_for(export, services))
    run_in_console(page, manager.base_url, slug, EXPORTS[export], tmp_path)
    assert recorded.foreign(manager.base_url) == []
    assert recorded.policy_violations() == []


def test_every_shared_export_is_deployed_by_the_browser_tests() -> None:
    assert {path.name for path in WORKFLOWS.glob("*.json")} == set(EXPORTS)


def test_a_new_version_then_a_rollback(
    signed_in: tuple[Page, Recorded], manager: LiveServer, services: Services, screenshots: Path
) -> None:
    page, _ = signed_in
    base = manager.base_url
    workflow = export_for("simple-llm-flow.json", services)
    slug, _ = deploy_through_dialog(page, base, workflow)
    page.goto(f"{base}/manage/deployments/{slug}/deploy")
    expect(page.locator("#name")).not_to_have_value("")
    page.locator("#workflow").fill(json.dumps(workflow))
    expect(page.locator("#preview table.fields").first).to_contain_text("tellMeWhatToDo")
    page.get_by_role("button", name="Deploy as a new version").click()
    expect(page.get_by_role("heading", name="Version 2 is live")).to_be_visible()

    page.goto(f"{base}/manage/deployments/{slug}/versions")
    expect(page.locator("table.list tbody tr")).to_have_count(2)
    inspect(page, screenshots, "12-versions")
    page.get_by_role("button", name="Make v1 current").click()
    expect(page.locator("table.list tbody tr").nth(1)).to_contain_text("current")
    details = httpx2.get(f"{base}/api/workflows/{slug}", timeout=10).json()
    assert details["workflow"]["version"] == 1


def test_undeploy_needs_the_slug_typed_then_the_endpoint_is_gone(
    signed_in: tuple[Page, Recorded], manager: LiveServer, services: Services, screenshots: Path
) -> None:
    page, _ = signed_in
    base = manager.base_url
    slug, key = deploy_through_dialog(page, base, export_for("agent-studio-export-example.json", services))
    page.goto(f"{base}/manage/deployments/{slug}/undeploy")
    inspect(page, screenshots, "13-undeploy")
    page.locator("#confirm").fill("not-the-slug")
    page.get_by_role("button", name="Undeploy").click()
    expect(page.get_by_role("alert")).to_contain_text("was not removed")
    endpoint = f"{base}/api/workflows/{slug}/execute"
    assert httpx2.post(endpoint, json={}, headers=bearer(key), timeout=10).status_code == 200

    page.locator("#confirm").fill(slug)
    page.get_by_role("button", name="Undeploy").click()
    expect(page.locator("table.list")).to_contain_text("deleted")
    assert httpx2.post(endpoint, json={}, headers=bearer(key), timeout=10).status_code == 401


def test_search_and_filter_the_list(signed_in: tuple[Page, Recorded], manager: LiveServer) -> None:
    page, _ = signed_in
    admin = bearer(ADMIN_KEY)
    for name in ("Needle Alpha", "Needle Beta", "Haystack"):
        body = {"name": name, "workflow": HELLO_WORLD}
        assert httpx2.post(f"{manager.base_url}/api/deploy", json=body, headers=admin, timeout=10).status_code == 201
    beta = httpx2.get(f"{manager.base_url}/api/workflows/needle-beta", timeout=10).json()["workflow"]
    httpx2.delete(f"{manager.base_url}/api/workflows/{beta['id']}", headers=admin, timeout=10).raise_for_status()

    page.goto(f"{manager.base_url}/manage")
    page.locator("#search").fill("needle")
    expect(page.locator("table.list tbody tr")).to_have_count(1)
    expect(page.locator("table.list")).to_contain_text("needle-alpha")
    assert "q=needle" in page.url
    page.locator("#state").select_option("all")
    expect(page.locator("table.list tbody tr")).to_have_count(2)
    page.locator("#state").select_option("deleted")
    expect(page.locator("table.list tbody tr")).to_have_count(1)
    expect(page.locator("table.list")).to_contain_text("needle-beta")


def test_create_and_revoke_a_key(signed_in: tuple[Page, Recorded], manager: LiveServer, screenshots: Path) -> None:
    page, _ = signed_in
    base = manager.base_url
    body = {"name": "Key Ring", "workflow": HELLO_WORLD}
    assert httpx2.post(f"{base}/api/deploy", json=body, headers=bearer(ADMIN_KEY), timeout=10).status_code == 201
    endpoint = f"{base}/api/workflows/key-ring/execute"
    page.goto(f"{base}/manage/deployments/key-ring/keys")
    page.locator("#key-name").fill("billing-service")
    page.get_by_role("button", name="Create key").click()
    key = page.locator("#new-key").inner_text().strip()
    assert httpx2.post(endpoint, json={"name": "k"}, headers=bearer(key), timeout=10).status_code == 200
    page.get_by_role("link", name="Show the updated list of keys").click()
    row = page.locator("tr", has_text="billing-service")
    expect(row).to_contain_text(key[:12])
    inspect(page, screenshots, "14-keys")
    row.get_by_role("button", name="Revoke").click()
    expect(page.locator("tr", has_text="billing-service")).to_contain_text("revoked")
    assert httpx2.post(endpoint, json={"name": "k"}, headers=bearer(key), timeout=10).status_code == 401


def test_keyboard_alone_deploys_a_workflow(
    signed_in: tuple[Page, Recorded], manager: LiveServer, services: Services
) -> None:
    page, _ = signed_in
    base = manager.base_url
    page.goto(f"{base}/manage")
    page.keyboard.press("Tab")
    expect(page.locator("a.skip")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("#main")).to_be_focused()

    page.goto(f"{base}/manage/deploy")
    page.locator("#workflow").focus()
    page.keyboard.insert_text(json.dumps({**HELLO_WORLD, "name": "Typed By Keyboard"}))
    expect(page.locator("#endpoint-preview")).to_have_text(f"{base}/api/workflows/typed-by-keyboard/execute")
    deploy_button = page.get_by_role("button", name="Deploy", exact=True)
    for _ in range(12):
        if deploy_button.evaluate("button => button === document.activeElement"):
            break
        page.keyboard.press("Tab")
    expect(deploy_button).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("#new-key")).to_be_visible()
    copy = page.get_by_role("button", name="Copy key")
    copy.focus()
    expect(copy).to_be_focused()


@pytest.mark.parametrize(
    ("width", "height", "scale", "name"),
    [(390, 844, 3, "phone"), (640, 400, 2, "zoom-200")],
)
def test_pages_fit_a_phone_and_200_percent_zoom(
    browser: Browser,
    signed_in: tuple[Page, Recorded],
    manager: LiveServer,
    screenshots: Path,
    width: int,
    height: int,
    scale: int,
    name: str,
) -> None:
    """No page scrolls sideways at a phone's width, nor at 200% zoom of a 1280-pixel window (640 CSS
    pixels): wide tables and code scroll inside their own box."""
    body = {"name": f"Narrow {name}", "workflow": HELLO_WORLD}
    deployed = httpx2.post(f"{manager.base_url}/api/deploy", json=body, headers=bearer(ADMIN_KEY), timeout=10)
    slug = deployed.json()["deployment"]["slug"]
    state = signed_in[0].context.storage_state()
    context = browser.new_context(
        viewport={"width": width, "height": height}, device_scale_factor=scale, storage_state=state
    )
    try:
        page = context.new_page()
        for path in (
            "",
            "/deploy",
            f"/deployments/{slug}",
            f"/deployments/{slug}/console",
            f"/deployments/{slug}/keys",
        ):
            page.goto(f"{manager.base_url}/manage{path}")
            expect(page.locator("#admin-key")).to_have_count(0)
            overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            assert overflow <= 0, f"/manage{path} scrolls sideways by {overflow}px at {name}"
        page.screenshot(path=screenshots / f"15-{name}-keys.png", full_page=True)
    finally:
        context.close()


def test_an_export_dropped_on_the_dialog_is_read(signed_in: tuple[Page, Recorded], manager: LiveServer) -> None:
    page, _ = signed_in
    page.goto(f"{manager.base_url}/manage/deploy")
    dropped = page.evaluate_handle(
        """text => {
            const transfer = new DataTransfer();
            transfer.items.add(new File([text], "flow.json", {type: "application/json"}));
            return transfer;
        }""",
        json.dumps({**HELLO_WORLD, "name": "Dropped Flow"}),
    )
    page.locator("#drop-zone").dispatch_event("drop", {"dataTransfer": dropped})
    expect(page.locator("#endpoint-preview")).to_have_text(f"{manager.base_url}/api/workflows/dropped-flow/execute")
    expect(page.locator("#name")).to_have_value("Dropped Flow")
