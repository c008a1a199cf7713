"""The HTTP clients nodes use, built from the settings the same way for the server and for local runs:
URLs a workflow chose go through the egress policy, and the configured services' redirects stay within
their origins."""

from __future__ import annotations

from clara_runner.flow.context import HttpClients, default_http_clients
from clara_runner.security.egress import EgressPolicy, GuardedTransport, ServiceTransport
from clara_runner.settings import Settings
from clara_runner.telemetry.tracing import traced_transport


def outbound_http(settings: Settings, egress: EgressPolicy) -> HttpClients:
    """`egress` is the settings' policy, or a wider one for a run on the user's own machine."""
    return default_http_clients(
        traced_transport(GuardedTransport(egress)),
        traced_transport(ServiceTransport(settings.service_endpoints().trusted)),
    )
