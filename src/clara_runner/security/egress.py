"""The egress policy: where a workflow may make the server connect.

A deployed workflow names URLs (an api-request node, an LLM base URL set in a node, a custom node's
fetch). Without a policy, anyone who can deploy or call a workflow can make the server reach its own
loopback services, the private network or the cloud metadata endpoint (SSRF). Every connection of
`HttpClients.workflow` goes through `GuardedTransport`, which:

* resolves the host itself and checks **every** resolved address against the policy;
* connects to one of the checked addresses (the connection is pinned to it, so a DNS answer that
  changes between the check and the connect, "DNS rebinding", cannot slip through);
* does this for each new connection, with no DNS cache, and checks every request's host, so every
  redirect hop is checked too.

Blocked by default: loopback, private (RFC 1918, unique-local), link-local, shared (CGNAT),
multicast, unspecified, reserved and other non-global ranges, and the cloud metadata endpoints by
address and by name. The operator opens holes with `EGRESS_ALLOW_HOSTS` (host names, `*.suffix`
wildcards), `EGRESS_ALLOW_CIDRS` (networks), or turns the address check off for a trusted on-prem
network with `EGRESS_ALLOW_PRIVATE=true` (metadata endpoints stay blocked unless allowed by name or
network). Services the operator configured travel on `HttpClients.services`, which has no policy
but follows redirects only within those services' origins (`ServiceTransport`).

A refusal tells the caller the host and why, never the address the host resolved to: that would map
the internal network for whoever can run a workflow. The address goes to the server's log.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Final

import httpx2
import structlog
from aiohttp.abc import AbstractResolver, ResolveResult

from clara_runner.flow.errors import NodeError
from clara_runner.flow.http_transport import FANOUT_LIMITS, AiohttpTransport

log = structlog.get_logger(__name__)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], Awaitable[Sequence[str]]]
"""host, port -> the IP addresses (as text) to connect to."""

METADATA_ADDRESSES: Final = frozenset(
    ipaddress.ip_address(address)
    for address in (
        "169.254.169.254",  # AWS, GCP, Azure, OpenStack, DigitalOcean, Oracle...
        "169.254.170.2",  # AWS ECS task metadata
        "169.254.169.123",  # AWS time sync
        "100.100.100.200",  # Alibaba Cloud
        "fd00:ec2::254",  # AWS IMDS over IPv6
    )
)
METADATA_HOSTS: Final = frozenset(
    {"metadata", "metadata.google.internal", "metadata.goog", "instance-data", "instance-data.ec2.internal"}
)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_LOOPBACK: Final = (ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128"))


class EgressBlocked(NodeError):
    """A workflow tried to reach an address the egress policy forbids."""

    code = "egress_blocked"


async def system_resolver(host: str, port: int) -> Sequence[str]:
    """The operating system's resolver (getaddrinfo), run off the event loop; a failure raises
    `socket.gaierror`, which the transport reports as a connection error naming the host."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def _address(text: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return None


def _embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries (mapped, 6to4, NAT64, Teredo), if any."""
    if not isinstance(address, ipaddress.IPv6Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def forbidden_reason(address: IPAddress) -> str | None:
    """Why the default policy refuses `address` ("a loopback address", ...), or None if it is public."""
    if address in METADATA_ADDRESSES:
        return "a cloud metadata address"
    embedded = _embedded_ipv4(address)
    if embedded is not None:
        reason = forbidden_reason(embedded)
        return None if reason is None else f"{reason} (embedded in an IPv6 address)"
    checks = (
        (address.is_unspecified, "an unspecified address"),
        (address.is_loopback, "a loopback address"),
        (address.is_link_local, "a link-local address"),
        (address.is_multicast, "a multicast address"),
        (address.is_private, "a private address"),
        (address.is_reserved, "a reserved address"),
        (not address.is_global, "a non-public address"),
    )
    return next((reason for failed, reason in checks if failed), None)


def _parse_networks(values: Iterable[str]) -> tuple[IPNetwork, ...]:
    return tuple(ipaddress.ip_network(value.strip(), strict=False) for value in values if value.strip())


@dataclass(frozen=True, slots=True)
class EgressPolicy:
    """Which hosts and addresses a workflow may reach; `check` raises `EgressBlocked` with the fix."""

    allow_private: bool = False
    allow_hosts: frozenset[str] = frozenset()
    allow_networks: tuple[IPNetwork, ...] = ()

    @classmethod
    def from_lists(cls, *, allow_private: bool, hosts: Iterable[str], cidrs: Iterable[str]) -> EgressPolicy:
        return cls(
            allow_private=allow_private,
            allow_hosts=frozenset(host.strip().lower().rstrip(".") for host in hosts if host.strip()),
            allow_networks=_parse_networks(cidrs),
        )

    def with_loopback(self) -> EgressPolicy:
        """This policy, plus this machine's loopback addresses: for a run on the user's own machine
        (`clara-runner run`), where local services (Ollama, LM Studio, ComfyUI) are theirs to call and
        no other tenant's are there to protect."""
        return replace(self, allow_networks=self.allow_networks + _LOOPBACK)

    def host_allowed(self, host: str) -> bool:
        """True when the operator allowed this host name (or IP literal) explicitly."""
        name = host.lower().rstrip(".").strip("[]")
        for allowed in self.allow_hosts:
            if allowed.startswith("*."):
                if name.endswith(allowed[1:]):
                    return True
            elif name == allowed:
                return True
        return False

    def check_host(self, host: str) -> None:
        """Refuse metadata host names before anything is resolved."""
        name = host.lower().rstrip(".")
        if name in METADATA_HOSTS and not self.host_allowed(name):
            raise self._blocked(host, "a cloud metadata host name", f"EGRESS_ALLOW_HOSTS={name}")

    def check_address(self, host: str, address: IPAddress) -> None:
        if self.host_allowed(host) or any(address in network for network in self.allow_networks):
            return
        reason = forbidden_reason(address)
        if reason is None:
            return
        if self.allow_private and address not in METADATA_ADDRESSES:
            return
        log.warning("egress_blocked", host=host, address=str(address), reason=reason)
        if _address(host) is None:
            raise self._blocked(
                host,
                f"it resolves to {reason}",
                f"EGRESS_ALLOW_HOSTS={host}, or EGRESS_ALLOW_CIDRS with the address in the server's log",
            )
        suffix = "32" if address.version == 4 else "128"
        raise self._blocked(
            str(address), reason, f"EGRESS_ALLOW_CIDRS={address}/{suffix} or EGRESS_ALLOW_HOSTS={host.strip('[]')}"
        )

    @staticmethod
    def _blocked(target: str, reason: str, fix: str) -> EgressBlocked:
        return EgressBlocked(
            f"egress to {target} is blocked by the egress policy ({reason}); "
            f"the server operator can allow it with {fix}"
        )


class _CheckingResolver(AbstractResolver):
    """aiohttp's resolver for the guarded transport: resolves with `resolver`, checks every address,
    and hands aiohttp only checked addresses to connect to (aiohttp keeps the URL's host name for TLS)."""

    def __init__(self, policy: EgressPolicy, resolver: Resolver) -> None:
        self._policy = policy
        self._resolver = resolver

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        del family  # every address is checked; aiohttp filters by its own family setting
        found = [address for text in await self._resolver(host, port) if (address := _address(text)) is not None]
        if not found:
            raise socket.gaierror(socket.EAI_NONAME, f"no address for {host}")
        for address in found:
            self._policy.check_address(host, address)
        return [
            {
                "hostname": host,
                "host": str(address),
                "port": port,
                "family": socket.AF_INET6 if address.version == 6 else socket.AF_INET,
                "proto": 0,
                "flags": socket.AI_NUMERICHOST,
            }
            for address in found
        ]

    async def close(self) -> None:
        """Nothing to release."""


class GuardedTransport(AiohttpTransport):
    """The nodes' aiohttp transport with the policy applied to every request and every new connection.

    A host name is checked before anything else (metadata names); an IP literal is checked as it is
    (aiohttp connects to literals without resolving), and a numeric host that is no canonical IP
    literal (`127.1`, `2130706433`, which the system would map onto an address) is refused. Any other
    host is resolved by `resolver` and every address checked each time a connection is opened (no DNS
    cache); aiohttp connects only to the addresses the check passed: the connection is pinned to them.
    httpx2 follows redirects by calling the transport again, so every hop is checked. Environment
    proxies are ignored: a proxy would connect on the workflow's behalf and make the address check
    meaningless. TLS still sends the URL's host name as SNI and verifies the certificate against it,
    whatever address the connection was pinned to.
    """

    def __init__(
        self,
        policy: EgressPolicy,
        resolver: Resolver = system_resolver,
        limits: httpx2.Limits = FANOUT_LIMITS,
        verify: ssl.SSLContext | bool = True,
    ) -> None:
        super().__init__(limits=limits, verify=verify, resolver=_CheckingResolver(policy, resolver))
        self._policy = policy

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        check_host_form(self._policy, request.url.host)
        return await super().handle_async_request(request)


def check_host_form(policy: EgressPolicy, host: str) -> bool:
    """The checks a URL's host gets before anything is resolved: metadata names, IP literals, numeric hosts
    that are no canonical literal. True when `host` is an IP literal (and so needs no resolving)."""
    policy.check_host(host)
    literal = _address(host)
    if literal is not None:
        policy.check_address(host, literal)
        return True
    if ":" in host or host.replace(".", "").isdigit():
        raise EgressBlocked(
            f"egress to {host} is blocked by the egress policy (a numeric host that is not a canonical IP "
            "address); write the address as four decimal numbers, e.g. 93.184.215.14"
        )
    return False


async def check_destination(policy: EgressPolicy, host: str, port: int, resolver: Resolver = system_resolver) -> None:
    """Ahead of any request, refuse a host the guarded transport would refuse now (`EgressBlocked`), so a
    URL stored for later (a webhook) is refused when it is given. The transport still checks every
    connection: what a name resolves to can change."""
    if check_host_form(policy, host):
        return
    for text in await resolver(host, port):
        address = _address(text)
        if address is not None:
            policy.check_address(host, address)


class ServiceTransport(AiohttpTransport):
    """The services client's transport: requests go only to the origins of the trusted service URLs.

    The services client has no egress policy: it reaches what the operator configured, loopback
    included. A redirect is a new request to wherever the service's answer points, so following it
    blindly would let a service (or an open redirect under its URL, which a workflow can name) take
    the call anywhere, the loopback and metadata addresses included. Redirects within a service's
    own origin are followed; one that leaves it is refused rather than sent through the egress
    policy, because the request still carries what it carried for the service: httpx2 drops only
    `Authorization` across origins, while provider keys travel in other headers too (Anthropic's
    `x-api-key`, a node's own auth header), and keys stay bound to their base URLs. The services
    answer their APIs without sending callers to other origins; a URL elsewhere can still be called
    by a workflow directly, where the egress policy applies.
    """

    def __init__(self, trusted: Iterable[str]) -> None:
        super().__init__()
        urls = (httpx2.URL(url) for url in trusted)
        self._origins = frozenset(url.origin for url in urls if url.is_absolute_url)

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        if request.url.origin not in self._origins:
            log.warning("egress_blocked", host=request.url.host, reason="a redirect out of a configured service")
            raise EgressBlocked(
                f"egress to {request.url.host} is blocked: a configured service redirected there, and redirects "
                "from configured services are followed only within the service's own origin"
            )
        return await super().handle_async_request(request)
