"""The admin's use cases on a deployment's webhooks: create, list, delete, read the delivery log,
redeliver; and the secret that signs the deployment's callback deliveries.

Webhooks are the admin's (the routes require the admin as deploy does): an endpoint receives every
run's outputs, so adding one is reading all future results. The callback secret is the key holder's
too, since callbacks are the key holder's own URLs.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from clara_runner.clock import utcnow
from clara_runner.errors import ValidationFailed, WorkflowNotFound
from clara_runner.security.egress import EgressPolicy, Resolver, system_resolver
from clara_runner.service.keys.secret import ServerSecret
from clara_runner.service.pages import Page, PageRequest
from clara_runner.service.webhooks import payloads
from clara_runner.service.webhooks.errors import (
    DeliveryInProgress,
    DeliveryNotFound,
    InvalidWebhookEvents,
    InvalidWebhookUrl,
    WebhookNotFound,
)
from clara_runner.service.webhooks.outbox import WebhookOutbox
from clara_runner.service.webhooks.signing import callback_secret, new_secret
from clara_runner.service.webhooks.targets import check_reachable, parsed_url
from clara_runner.store import deployments as deployment_queries
from clara_runner.store import webhooks as queries
from clara_runner.store.database import Connection, Database
from clara_runner.store.records import DeploymentRecord
from clara_runner.store.webhooks import DeliveryRecord, WebhookRecord

MAX_WEBHOOKS = 20
"""Endpoints per deployment: every one is a POST per run."""


@dataclass(frozen=True, slots=True)
class WebhookRequest:
    url: str
    events: list[str]


def parse_webhook_request(body: Any) -> WebhookRequest:
    """`{"url": "https://...", "events": ["run.succeeded", ...]}`; events default to `["run.finished"]`."""
    if not isinstance(body, Mapping):
        raise ValidationFailed(['Request body must be a JSON object such as {"url": "https://...", "events": [...]}'])
    unknown = sorted(set(body) - {"url", "events"})
    if unknown:
        raise ValidationFailed([f"Unknown fields: {', '.join(unknown)} (allowed: url, events)"])
    url = str(parsed_url(body.get("url"), "url", InvalidWebhookUrl))
    events = body.get("events", [payloads.FINISHED])
    allowed = ", ".join(payloads.EVENTS)
    if not isinstance(events, list) or not events or not all(isinstance(event, str) for event in events):
        raise InvalidWebhookEvents(f"events must be a non-empty list of event names ({allowed})")
    unknown_events = sorted(set(events) - set(payloads.EVENTS))
    if unknown_events:
        raise InvalidWebhookEvents(f"Unknown events: {', '.join(unknown_events)} (allowed: {allowed})")
    return WebhookRequest(url, list(dict.fromkeys(events)))


class WebhookAdmin:
    def __init__(
        self,
        database: Database,
        outbox: WebhookOutbox,
        policy: EgressPolicy,
        secret: ServerSecret,
        resolver: Resolver = system_resolver,
    ) -> None:
        self._database = database
        self._outbox = outbox
        self._policy = policy
        self._secret = secret
        self._resolver = resolver

    async def create(self, slug: str, body: Any) -> WebhookRecord:
        """A new endpoint; its record carries the secret, which no later answer shows."""
        request = parse_webhook_request(body)
        await check_reachable(
            self._policy, parsed_url(request.url, "url", InvalidWebhookUrl), "url", InvalidWebhookUrl, self._resolver
        )
        async with self._database.write() as conn:
            deployment = await _deployment(conn, slug)
            if len(await queries.list_webhooks(conn, deployment.id)) >= MAX_WEBHOOKS:
                raise ValidationFailed([f"A deployment has at most {MAX_WEBHOOKS} webhooks; delete one first"])
            record = WebhookRecord(uuid.uuid4(), deployment.id, request.url, request.events, new_secret(), utcnow())
            await queries.insert_webhook(conn, record)
        self._outbox.webhooks_changed(deployment.id, present=True)
        return record

    async def list(self, slug: str) -> list[WebhookRecord]:
        async with self._database.read() as conn:
            deployment = await _deployment(conn, slug)
            return await queries.list_webhooks(conn, deployment.id)

    async def delete(self, slug: str, webhook_id: uuid.UUID) -> None:
        """Delete the endpoint, its delivery log and the retries still due to it."""
        async with self._database.write() as conn:
            deployment = await _deployment(conn, slug)
            if not await queries.delete_webhook(conn, deployment.id, webhook_id):
                raise WebhookNotFound()
        self._outbox.webhooks_changed(deployment.id, present=False)

    async def deliveries(self, slug: str, webhook_id: uuid.UUID, page: PageRequest) -> Page[DeliveryRecord]:
        """The endpoint's deliveries, newest first, each with its attempt log."""
        async with self._database.read() as conn:
            await _webhook(conn, slug, webhook_id)
            rows = await queries.list_deliveries(conn, webhook_id, limit=page.limit + 1, offset=page.offset)
        return Page.from_overfetch(rows, page)

    async def redeliver(self, slug: str, webhook_id: uuid.UUID, delivery_id: uuid.UUID) -> DeliveryRecord:
        """Send the delivery again, now: it becomes due at once, whatever its state (an attempt under way
        excepted: 409). A failed one gets one more attempt; retries follow only while its schedule has
        some left."""
        async with self._database.write() as conn:
            await _webhook(conn, slug, webhook_id)
            found = await queries.get_delivery(conn, webhook_id, delivery_id)
            if found is None:
                raise DeliveryNotFound()
            if not await queries.requeue(conn, webhook_id, delivery_id, utcnow()):
                raise DeliveryInProgress()
            delivery = await queries.get_delivery(conn, webhook_id, delivery_id)
        assert delivery is not None
        self._outbox.wake_deliverer()
        return delivery

    async def callback_secret(self, deployment: DeploymentRecord) -> str:
        return callback_secret(await self._secret.load(), deployment.id)


async def _deployment(conn: Connection, slug: str) -> DeploymentRecord:
    deployment = await deployment_queries.find_live(conn, slug=slug)
    if deployment is None:
        raise WorkflowNotFound()
    return deployment


async def _webhook(conn: Connection, slug: str, webhook_id: uuid.UUID) -> None:
    deployment = await _deployment(conn, slug)
    if not await queries.webhook_exists(conn, deployment.id, webhook_id):
        raise WebhookNotFound()
