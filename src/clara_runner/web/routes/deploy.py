"""The deploy dialog: preview as the user types (slug, fields, schemas, problems), then deploy and show
the key once with ready-to-run snippets. A new version of a deployment is the same dialog."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from clara_runner.contract.examples import example_object
from clara_runner.contract.schema import Contract
from clara_runner.contract.snippets import API_KEY_PLACEHOLDER, code_snippets
from clara_runner.errors import ValidationFailed
from clara_runner.server.deps import checked_slug, links, runtime
from clara_runner.service.deployments.preview import DeployPreview
from clara_runner.web.forms import FormProblem, deploy_body
from clara_runner.web.route import PageRoute, is_htmx
from clara_runner.web.templating import render
from clara_runner.web.visitor import Visitor

router = APIRouter(route_class=PageRoute)

SHOWN_SNIPPETS = ("curl", "python", "javascript")


@router.get("/manage/deploy", include_in_schema=False)
async def dialog(request: Request) -> Response:
    return render(request, "deploy.html", target=None, form={})


@router.get("/manage/deployments/{slug}/deploy", include_in_schema=False)
async def version_dialog(request: Request, slug: str) -> Response:
    record = await runtime(request).deployments.get(checked_slug(slug))
    form = {"name": record.name, "description": record.description or ""}
    return render(request, "deploy.html", target=record, form=form)


@router.post("/manage/deploy/preview", include_in_schema=False)
async def preview(request: Request) -> Response:
    return await _preview(request, None)


@router.post("/manage/deployments/{slug}/deploy/preview", include_in_schema=False)
async def version_preview(request: Request, slug: str) -> Response:
    return await _preview(request, checked_slug(slug))


@router.post("/manage/deploy", include_in_schema=False)
async def deploy(request: Request) -> Response:
    return await _deploy(request, None)


@router.post("/manage/deployments/{slug}/deploy", include_in_schema=False)
async def deploy_version(request: Request, slug: str) -> Response:
    return await _deploy(request, checked_slug(slug))


async def _checked(request: Request, version_of: str | None) -> tuple[dict[str, Any], DeployPreview]:
    state = runtime(request)
    if version_of is not None:
        await state.deployments.get(version_of)
    try:
        body = await deploy_body(request)
    except FormProblem as exc:
        return {}, DeployPreview(None, None, None, False, None, (str(exc),), ())
    return body, await state.deployments.preview(body, version_of)


async def _preview(request: Request, version_of: str | None) -> Response:
    body, checked = await _checked(request, version_of)
    return render(
        request,
        "_preview.html",
        preview=checked,
        endpoint=links(request).endpoint(checked.slug) if checked.slug else None,
        empty="workflow" not in body,
        named=bool(body.get("name")),
    )


async def _deploy(request: Request, version_of: str | None) -> Response:
    state = runtime(request)
    body, checked = await _checked(request, version_of)
    if not checked.deployable:
        return await _refused(request, version_of, body, checked)
    body = {**body, "name": checked.name, "description": checked.description}
    try:
        if version_of is None:
            deployed = await state.deployments.deploy(body)
            record, contract, api_key = deployed.deployment, deployed.contract, deployed.api_key
            warnings = deployed.warnings
        else:
            visitor: Visitor = request.state.visitor
            caller = await state.access.caller(visitor.authorization, visitor.client_host)
            target = await state.deployments.get(version_of)
            version = await state.versions.deploy_version(caller, target, body)
            record, contract, api_key, warnings = version.deployment, version.contract, None, version.contract.warnings
    except ValidationFailed as exc:
        problems = tuple(exc.details.get("validationErrors", [exc.message]))
        failed = DeployPreview(checked.name, checked.description, checked.slug, False, None, problems, ())
        return await _refused(request, version_of, body, failed)
    endpoint = links(request).endpoint(record.slug)
    return render(
        request,
        "_deployed.html" if is_htmx(request) else "deployed.html",
        record=record,
        endpoint=endpoint,
        api_key=api_key,
        warnings=warnings,
        snippets=ready_snippets(contract, endpoint, api_key, state.settings.max_execution_seconds),
        headers={"HX-Retarget": "#deploy-dialog", "HX-Reswap": "innerHTML"},
    )


async def _refused(request: Request, version_of: str | None, body: dict[str, Any], checked: DeployPreview) -> Response:
    """The problems, in the dialog's preview (htmx), or the whole dialog again with what was sent."""
    if is_htmx(request):
        return render(request, "_preview.html", preview=checked, endpoint=None, empty=False, named=True)
    target = None if version_of is None else await runtime(request).deployments.get(version_of)
    form = {
        **{key: body.get(key) or "" for key in ("name", "slug", "description")},
        "workflow": json.dumps(body["workflow"], indent=2) if "workflow" in body else "",
    }
    return render(
        request,
        "deploy.html",
        status_code=400,
        target=target,
        form=form,
        preview=checked,
        endpoint=None,
        empty=False,
        named=True,
    )


def ready_snippets(contract: Contract, endpoint: str, api_key: str | None, timeout: float) -> dict[str, str]:
    """curl, Python and JavaScript calls of the deployment, with the key in them when it is known."""
    every = code_snippets(endpoint, example_object(contract.input_schema), timeout)
    return {
        name: every[name].replace(API_KEY_PLACEHOLDER, api_key) if api_key else every[name] for name in SHOWN_SNIPPETS
    }
