"""The HTTP clients nodes use, built from the settings the same way for the server and for local runs:
URLs a workflow chose go through the egress policy, spread over the fan-out pools."""

from __future__ import annotations

from clara_runner.flow.context import FANOUT_LIMITS, HttpClients, default_http_clients, sharded
from clara_runner.security.egress import GuardedTransport
from clara_runner.settings import Settings


def outbound_http(settings: Settings) -> HttpClients:
    policy = settings.egress_policy()
    return default_http_clients(sharded(lambda: GuardedTransport(policy, limits=FANOUT_LIMITS)))
