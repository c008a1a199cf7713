"""The egress policy: where a workflow may make the server connect.

A deployed workflow names URLs (an api-request node, an LLM base URL set in a node, a custom node's
fetch). Without a policy, anyone who can deploy or call a workflow can make the server reach its own
loopback services, the private network or the cloud metadata endpoint (SSRF). Every connection of
`HttpClients.workflow` goes through `GuardedTransport`, which:

* resolves the host itself and checks **every** resolved address against the policy;
* connects to one of the checked addresses (the connection is pinned to it, so a DNS answer that
  changes between the check and the connect, "DNS rebinding", cannot slip through);
* does this for each new connection, so every redirect hop is checked too.

Blocked by default: loopback, private (RFC 1918, unique-local), link-local, shared (CGNAT),
multicast, unspecified, reserved and other non-global ranges, and the cloud metadata endpoints by
address and by name. The operator opens holes with `EGRESS_ALLOW_HOSTS` (host names, `*.suffix`
wildcards), `EGRESS_ALLOW_CIDRS` (networks), or turns the address check off for a trusted on-prem
network with `EGRESS_ALLOW_PRIVATE=true` (metadata endpoints stay blocked unless allowed by name or
network). Services the operator configured travel on `HttpClients.services`, which has no policy.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Final

import httpcore2
import httpx2
from httpcore2 import AsyncNetworkBackend, AsyncNetworkStream
from httpcore2._backends.auto import AutoBackend
from httpx2._config import create_ssl_context

from clara_runner.flow.errors import NodeError

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
DEFAULT_LIMITS: Final = httpx2.Limits(max_connections=100, max_keepalive_connections=20)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


class EgressBlocked(NodeError):
    """A workflow tried to reach an address the egress policy forbids."""

    code = "egress_blocked"


async def system_resolver(host: str, port: int) -> Sequence[str]:
    """The operating system's resolver (getaddrinfo), run off the event loop."""
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise httpcore2.ConnectError(f"cannot resolve host '{host}': {exc.strerror}") from exc
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
        return None if reason is None else f"{reason} (embedded in {address})"
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
        suffix = "32" if address.version == 4 else "128"
        raise self._blocked(
            str(address) if _address(host) else f"{host} ({address})",
            reason,
            f"EGRESS_ALLOW_CIDRS={address}/{suffix} or EGRESS_ALLOW_HOSTS={host.strip('[]')}",
        )

    @staticmethod
    def _blocked(target: str, reason: str, fix: str) -> EgressBlocked:
        return EgressBlocked(
            f"egress to {target} is blocked by the egress policy ({reason}); "
            f"the server operator can allow it with {fix}"
        )


class GuardedBackend(AsyncNetworkBackend):
    """An httpcore network backend that resolves, checks, then connects to a checked address only."""

    def __init__(self, policy: EgressPolicy, resolver: Resolver = system_resolver) -> None:
        self._policy = policy
        self._resolver = resolver
        self._inner = AutoBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        local_address: str | None = None,
        socket_options: Iterable[httpcore2.SOCKET_OPTION] | None = None,
    ) -> AsyncNetworkStream:
        self._policy.check_host(host)
        literal = _address(host.strip("[]"))
        addresses = [literal] if literal is not None else await self._resolve(host, port)
        for address in addresses:
            self._policy.check_address(host, address)
        last_error: Exception | None = None
        for address in addresses:
            try:
                return await self._inner.connect_tcp(
                    str(address), port, timeout=timeout, local_address=local_address, socket_options=socket_options
                )
            except (httpcore2.ConnectError, httpcore2.ConnectTimeout) as exc:
                last_error = exc
        assert last_error is not None
        raise last_error

    async def _resolve(self, host: str, port: int) -> list[IPAddress]:
        found = [address for text in await self._resolver(host, port) if (address := _address(text)) is not None]
        if not found:
            raise httpcore2.ConnectError(f"cannot resolve host '{host}': no address")
        return found

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        socket_options: Iterable[httpcore2.SOCKET_OPTION] | None = None,
    ) -> AsyncNetworkStream:
        del timeout, socket_options
        raise EgressBlocked(f"egress to the unix socket {path} is blocked by the egress policy")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class GuardedTransport(httpx2.AsyncHTTPTransport):
    """httpx2's transport with its connection pool built on `GuardedBackend`.

    Environment proxies are ignored (`trust_env=False`): a proxy would connect on the workflow's
    behalf and make the address check meaningless. TLS still verifies the URL's host name (httpcore
    sends the origin's host as SNI and checks the certificate against it), whatever address the
    connection was pinned to.
    """

    def __init__(
        self,
        policy: EgressPolicy,
        resolver: Resolver = system_resolver,
        limits: httpx2.Limits = DEFAULT_LIMITS,
        verify: ssl.SSLContext | bool = True,
    ) -> None:
        super().__init__(trust_env=False, limits=limits)
        self._pool = httpcore2.AsyncConnectionPool(
            ssl_context=create_ssl_context(verify=verify, trust_env=False),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=GuardedBackend(policy, resolver),
        )
