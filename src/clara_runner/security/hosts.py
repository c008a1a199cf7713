"""Which host names the server answers to (`ALLOWED_HOSTS`), and which browser origins are its own.

DNS rebinding: a page at `http://rebind.attacker.example` whose name the attacker then points at
127.0.0.1 talks to this server from the victim's own browser, so from a loopback address, with the
attacker's name in `Host` and `Origin`. While no admin key is set, management trusts loopback
clients, so such a page would get the admin, and every name in `Host` would be reflected into the
links, OpenAPI `servers` and code snippets the server writes. Answering only the names the operator
chose closes both: by default the loopback names and `BASE_URL`'s host, which no attacker's DNS can
claim. `*` answers any name, and so gives that trust back to any web page where loopback trust
applies; it is meant for servers behind a proxy that checks `Host` itself, with an admin key set.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import Final
from urllib.parse import urlsplit

ANY_HOST: Final = "*"
LOOPBACK_NAMES: Final = ("localhost", "127.0.0.1", "::1")
_DEFAULT_PORTS: Final = {"http": 80, "https": 443}
_MAX_PORT: Final = 65535


def host_name(value: str) -> str:
    """`value` as names are compared here: lower case, no trailing dot, an IPv6 address without brackets,
    an international name in its ASCII (`xn--`) form, as browsers send it."""
    name = value.strip().lower().rstrip(".").removeprefix("[").removesuffix("]")
    return name if name.isascii() else name.encode("idna").decode("ascii")


def parse_allowed_hosts(setting: str) -> list[str]:
    """The host names of an `ALLOWED_HOSTS` value; `ValueError` naming the first entry that is not one
    (a scheme, port, path or wildcard cannot be matched against a `Host` name, so it would allow nothing)."""
    names = []
    for entry in filter(None, (part.strip() for part in setting.split(","))):
        try:
            name = host_name(entry)
        except UnicodeError:
            name = ""
        if name != ANY_HOST and (not name or any(c in name for c in "/@*? ") or (":" in name and not _is_ipv6(name))):
            raise ValueError(f"ALLOWED_HOSTS: '{entry}' is not a host name (write it without scheme, port or path)")
        names.append(name)
    return names


def _is_ipv6(name: str) -> bool:
    try:
        return ipaddress.ip_address(name).version == 6
    except ValueError:
        return False


def _header_form(name: str) -> bytes:
    """`name` as a `Host` header writes it (IPv6 in brackets), for the per-request lookup."""
    return (f"[{name}]" if ":" in name else name).encode("ascii")


class AllowedHosts:
    """The names requests may carry in `Host`, and the origins whose pages count as this server's own."""

    __slots__ = ("_headers", "any_host", "names", "origins")

    def __init__(self, names: Iterable[str], origins: Iterable[tuple[str, str, int]] = ()) -> None:
        listed = [host_name(name) for name in names]
        self.any_host = ANY_HOST in listed
        self.names = frozenset(name for name in listed if name != ANY_HOST)
        self.origins = frozenset(origins)
        self._headers = frozenset(_header_form(name) for name in self.names)

    @classmethod
    def from_settings(cls, allowed_hosts: str, base_url: str) -> AllowedHosts:
        """`ALLOWED_HOSTS` (unset: the loopback names), plus `BASE_URL`'s host and origin when it is set:
        the server's public address is always one it answers to."""
        names = parse_allowed_hosts(allowed_hosts) or list(LOOPBACK_NAMES)
        origins = []
        if base_url:
            public = _origin(base_url)
            if public is not None:
                names.append(public[1])
                origins.append(public)
        return cls(names, origins)

    def allows(self, host: bytes) -> bool:
        """Whether to answer a request whose `Host` header is `host`, raw as the ASGI scope holds it.

        This runs before every request, execute included, so it is one set lookup after splitting off
        the port (which must be a port number).
        """
        if self.any_host:
            return True
        name = host
        if not host.endswith(b"]"):
            before, colon, port = host.rpartition(b":")
            if colon:
                if not (port.isdigit() and len(port) <= 5 and int(port) <= _MAX_PORT):
                    return False
                name = before
        return name.lower().rstrip(b".") in self._headers

    def is_own_origin(self, origin: str, scheme: str, port: int | None) -> bool:
        """Whether a browser page of `origin` (its `Origin` header) is one of this server's own pages.

        It is when it is `BASE_URL`'s origin, or when its host is one of the allowed names (not `*`,
        which names none) and it has the scheme and port this request was sent to: a page on another
        port of the same machine is another site. The request's own `Host` name is never the
        reference: in DNS rebinding it is the attacker's name.
        """
        try:
            parts = urlsplit(origin)
            origin_port = parts.port or _DEFAULT_PORTS.get(parts.scheme)
        except ValueError:
            return False
        name = host_name(parts.hostname or "")
        if (parts.scheme, name, origin_port) in self.origins:
            return True
        return name in self.names and (parts.scheme, origin_port) == (scheme, port or _DEFAULT_PORTS.get(scheme))


def _origin(url: str) -> tuple[str, str, int] | None:
    parts = urlsplit(url)
    port = parts.port or _DEFAULT_PORTS.get(parts.scheme)
    if not parts.hostname or port is None:
        return None
    return parts.scheme, host_name(parts.hostname), port
