"""Webhook endpoints of a deployment (the admin's): create, list, delete, delivery log, redeliver; and the
secret that signs the deployment's callback deliveries (its key holder's too)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from clara_runner.clock import iso
from clara_runner.contract.payload import parse_payload
from clara_runner.server import presenters
from clara_runner.server.bodies import read_limited
from clara_runner.server.deps import caller, checked_slug, client_host, runtime
from clara_runner.server.schemas import (
    ADMIN,
    KEY_OR_ADMIN,
    PageLimit,
    PageOffset,
    Pagination,
    SlugPath,
    errors,
    ok,
)
from clara_runner.service.pages import PageRequest
from clara_runner.service.webhooks.errors import DeliveryNotFound, WebhookNotFound
from clara_runner.service.webhooks.payloads import EVENTS
from clara_runner.store.webhooks import DeliveryRecord, WebhookRecord

router = APIRouter(tags=["Webhooks"])

_WebhookId = Annotated[str, Path(description="The webhook's id", json_schema_extra={"format": "uuid"})]
_DeliveryId = Annotated[str, Path(description="The delivery's id", json_schema_extra={"format": "uuid"})]


class _Shape(BaseModel):
    model_config = ConfigDict(extra="allow")


class Webhook(_Shape):
    id: uuid.UUID
    url: str
    events: list[Literal["run.succeeded", "run.failed", "run.finished"]]
    createdAt: datetime


class NewWebhook(Webhook):
    secret: str = Field(pattern="^whsec_", description="Signs every delivery; shown only here, once")


class NewWebhookResponse(_Shape):
    success: Literal[True]
    webhook: NewWebhook


class WebhookList(_Shape):
    success: Literal[True]
    webhooks: list[Webhook]


class DeletedWebhook(_Shape):
    success: Literal[True]
    message: str


class Attempt(_Shape):
    at: datetime
    statusCode: int | None
    error: str | None = Field(description="Null when the receiver answered 2xx")
    latencyMs: int


class Delivery(_Shape):
    id: uuid.UUID = Field(description="Also the `webhook-id` header of every attempt")
    webhookId: uuid.UUID | None
    executionId: uuid.UUID
    event: Literal["run.succeeded", "run.failed"]
    url: str
    state: Literal["pending", "delivering", "succeeded", "failed"]
    attempts: int
    nextAttemptAt: datetime | None
    lastStatusCode: int | None
    lastError: str | None
    attemptLog: list[Attempt]
    createdAt: datetime
    updatedAt: datetime


class DeliveryList(_Shape):
    success: Literal[True]
    deliveries: list[Delivery]
    pagination: Pagination


class RedeliverResponse(_Shape):
    success: Literal[True]
    delivery: Delivery


class CallbackSecretResponse(_Shape):
    success: Literal[True]
    secret: str = Field(pattern="^whsec_")


_CREATE_BODY = {
    **ADMIN,
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["url"],
                    "additionalProperties": False,
                    "properties": {
                        "url": {"type": "string", "format": "uri", "maxLength": 2048},
                        "events": {
                            "type": "array",
                            "minItems": 1,
                            "items": {"enum": list(EVENTS)},
                            "default": ["run.finished"],
                        },
                    },
                }
            }
        },
    },
}


def _webhook(record: WebhookRecord) -> dict[str, Any]:
    return {"id": str(record.id), "url": record.url, "events": record.events, "createdAt": iso(record.created_at)}


def _delivery(record: DeliveryRecord) -> dict[str, Any]:
    return {
        "id": str(record.id),
        "webhookId": None if record.webhook_id is None else str(record.webhook_id),
        "executionId": str(record.execution_id),
        "event": record.event,
        "url": record.url,
        "state": record.state,
        "attempts": record.attempts,
        "nextAttemptAt": iso(record.next_attempt_at),
        "lastStatusCode": record.last_status_code,
        "lastError": record.last_error,
        "attemptLog": record.attempt_log,
        "createdAt": iso(record.created_at),
        "updatedAt": iso(record.updated_at),
    }


def _uuid(value: str, error: type[WebhookNotFound | DeliveryNotFound]) -> uuid.UUID:
    """A malformed id names nothing: 404 like an unknown one."""
    try:
        return uuid.UUID(value)
    except ValueError as exc:
        raise error() from exc


def _require_admin(request: Request) -> None:
    runtime(request).access.require_admin(request.headers.get("authorization"), client_host(request))


@router.post(
    "/api/workflows/{slug}/webhooks",
    status_code=201,
    summary="Add a webhook endpoint",
    description="Registers a URL that receives a signed POST when a run of this deployment ends, for the events "
    "chosen; the signing secret is in the response, once.",
    openapi_extra=_CREATE_BODY,
    response_model=None,
    responses={
        **ok(NewWebhookResponse, "Created: the signing secret is in the body, once", 201),
        **errors(400, 401, 404, 503),
    },
)
async def create(request: Request, slug: SlugPath) -> JSONResponse:
    _require_admin(request)
    state = runtime(request)
    body = parse_payload(await read_limited(request, state.settings.max_input_size), "application/json")
    record = await state.webhook_admin.create(checked_slug(slug), body)
    return JSONResponse({"success": True, "webhook": {**_webhook(record), "secret": record.secret}}, status_code=201)


@router.get(
    "/api/workflows/{slug}/webhooks",
    summary="List webhook endpoints",
    description="The deployment's webhook endpoints, oldest first, without their secrets.",
    openapi_extra=ADMIN,
    response_model=None,
    responses={**ok(WebhookList, "The deployment's webhooks, oldest first (no secrets)"), **errors(400, 401, 404, 503)},
)
async def list_webhooks(request: Request, slug: SlugPath) -> dict[str, Any]:
    _require_admin(request)
    records = await runtime(request).webhook_admin.list(checked_slug(slug))
    return {"success": True, "webhooks": [_webhook(record) for record in records]}


@router.delete(
    "/api/workflows/{slug}/webhooks/{webhook_id}",
    summary="Delete a webhook endpoint, its delivery log and its pending retries",
    description="Removes the endpoint: no delivery is sent to it any more.",
    openapi_extra=ADMIN,
    response_model=None,
    responses={**ok(DeletedWebhook, "Deleted"), **errors(400, 401, 404, 503)},
)
async def delete(request: Request, slug: SlugPath, webhook_id: _WebhookId) -> dict[str, Any]:
    _require_admin(request)
    await runtime(request).webhook_admin.delete(checked_slug(slug), _uuid(webhook_id, WebhookNotFound))
    return {"success": True, "message": "Webhook deleted"}


@router.get(
    "/api/workflows/{slug}/webhooks/{webhook_id}/deliveries",
    summary="A webhook's delivery log",
    description="The endpoint's deliveries, newest first, each with its status and every attempt made.",
    openapi_extra=ADMIN,
    response_model=None,
    responses={**ok(DeliveryList, "Deliveries, newest first, with every attempt"), **errors(400, 401, 404, 503)},
)
async def deliveries(
    request: Request,
    slug: SlugPath,
    webhook_id: _WebhookId,
    limit: PageLimit = None,
    offset: PageOffset = None,
) -> dict[str, Any]:
    _require_admin(request)
    page = await runtime(request).webhook_admin.deliveries(
        checked_slug(slug), _uuid(webhook_id, WebhookNotFound), PageRequest.parse(limit, offset, default_limit=50)
    )
    return {
        "success": True,
        "deliveries": [_delivery(record) for record in page.items],
        "pagination": presenters.pagination(page),
    }


@router.post(
    "/api/workflows/{slug}/webhooks/{webhook_id}/deliveries/{delivery_id}/redeliver",
    status_code=202,
    summary="Send a delivery again",
    description="Makes the delivery due again at once, with the same `webhook-id`; 409 while an attempt is under way.",
    openapi_extra=ADMIN,
    response_model=None,
    responses={
        **ok(RedeliverResponse, "Queued: it is sent at once; read the log for the outcome", 202),
        **errors(400, 401, 404, 409, 503),
    },
)
async def redeliver(request: Request, slug: SlugPath, webhook_id: _WebhookId, delivery_id: _DeliveryId) -> JSONResponse:
    _require_admin(request)
    record = await runtime(request).webhook_admin.redeliver(
        checked_slug(slug), _uuid(webhook_id, WebhookNotFound), _uuid(delivery_id, DeliveryNotFound)
    )
    return JSONResponse({"success": True, "delivery": _delivery(record)}, status_code=202)


@router.get(
    "/api/workflows/{slug}/callback-secret",
    summary="The secret that signs deliveries to this deployment's callbackUrls",
    description="Deliveries to the `callbackUrl` a run names are signed with this secret (Standard Webhooks), "
    "so the receiver can verify them.",
    openapi_extra=KEY_OR_ADMIN,
    response_model=None,
    responses={
        **ok(CallbackSecretResponse, "The deployment's callback signing secret"),
        **errors(400, 401, 403, 404, 503),
    },
)
async def callback_secret(request: Request, slug: SlugPath) -> dict[str, Any]:
    state = runtime(request)
    deployment = await state.access.deployment(
        await caller(request), "read the callback secret of", slug=checked_slug(slug)
    )
    return {"success": True, "secret": await state.webhook_admin.callback_secret(deployment)}
