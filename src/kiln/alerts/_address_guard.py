"""Where a webhook may post: public addresses only, unless the operator allows more.

A rule's webhook URL is written by whoever may create rules, and the
process that delivers it often sits inside a private network beside
databases, admin consoles and a cloud metadata service. Posting wherever a
URL points would let a rule reach those (server-side request forgery), so
:func:`check_webhook_url` resolves the URL's host and refuses it when any
address it resolves to is::

    loopback        127.0.0.0/8, ::1
    private         10/8, 172.16/12, 192.168/16, fc00::/7 (and the other
                    special-purpose blocks Python's ``ipaddress`` calls private)
    link-local      169.254.0.0/16, fe80::/10
    shared          100.64.0.0/10 (carrier-grade NAT, RFC 6598)
    unspecified, multicast, reserved (240.0.0.0/4, ::/8), or otherwise not
                    globally routable
    cloud metadata  169.254.169.254, fd00:ec2::254, 100.100.100.200

An IPv6 address that carries an IPv4 one (``::ffff:127.0.0.1``, 6to4,
NAT64) is judged by the IPv4 address too. Hosts are resolved with
``getaddrinfo``, so the forms the C library reads as addresses
(``http://2130706433/``, ``http://0x7f000001/``) are judged as the address
they connect to. Only ``http`` and ``https`` are allowed, and credentials in
the URL are refused (use headers, which are never logged).

The allow-list is the operator's, not the rule author's: the environment
variable ``KILN_WEBHOOK_ALLOW`` (read here directly, because ``Settings``
has no field for it yet) holds comma-separated host names, addresses or
CIDR networks (``hooks.internal, 10.20.0.0/16, 127.0.0.1``). A listed name
lets its addresses through; a listed network lets the addresses in it
through. Cloud metadata addresses pass only when listed exactly, never by a
name or a network that happens to contain them.

The result names the addresses checked; the webhook sink connects to one
of them (sending the original ``Host`` and TLS server name), so a DNS
answer that changes between the check and the connection (DNS rebinding)
changes nothing.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import SplitResult, urlsplit

from kiln.errors import InvalidInput, Unavailable

__all__ = [
    "METADATA_ADDRESSES",
    "WEBHOOK_ALLOW_ENV",
    "Allowance",
    "CheckedUrl",
    "check_url_form",
    "check_webhook_url",
    "parse_allowance",
    "refusal",
]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[..., list[tuple[Any, ...]]]

#: The environment variable holding the operator's allow-list.
WEBHOOK_ALLOW_ENV = "KILN_WEBHOOK_ALLOW"
SCHEMES = ("http", "https")
#: Instance metadata services: AWS, GCP and Azure (IPv4), AWS (IPv6), Alibaba Cloud.
METADATA_ADDRESSES: frozenset[IPAddress] = frozenset(
    ipaddress.ip_address(text) for text in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200")
)
_SHARED = ipaddress.ip_network("100.64.0.0/10")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


@dataclass(frozen=True, slots=True)
class Allowance:
    """What the operator allows beyond public addresses: host names and networks."""

    hosts: frozenset[str] = frozenset()
    networks: tuple[IPNetwork, ...] = ()

    def admits(self, host: str, address: IPAddress) -> bool:
        """Whether ``address`` (of ``host``) passes although it is not public."""
        mapped = getattr(address, "ipv4_mapped", None)
        forms = (address,) if mapped is None else (address, mapped)
        if any(form in METADATA_ADDRESSES for form in forms):
            return any(
                network.num_addresses == 1 and form in network
                for network in self.networks
                for form in forms
            )
        return host in self.hosts or any(
            form in network for network in self.networks for form in forms
        )


@dataclass(frozen=True, slots=True)
class CheckedUrl:
    """A URL that passed, with the addresses its host resolved to (connect to one of these)."""

    url: str
    scheme: str
    host: str
    port: int
    addresses: tuple[IPAddress, ...]

    @property
    def origin(self) -> str:
        """``scheme://host[:port]``: the part of the URL safe to show (no path, no query)."""
        default = 443 if self.scheme == "https" else 80
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}" + ("" if self.port == default else f":{self.port}")


def parse_allowance(text: str | Iterable[str] | None) -> Allowance:
    """An :class:`Allowance` from ``"host, 10.0.0.0/8, 127.0.0.1"`` (or a list of entries)."""
    if text is None:
        return Allowance()
    entries = text.split(",") if isinstance(text, str) else list(text)
    hosts: set[str] = set()
    networks: list[IPNetwork] = []
    for entry in entries:
        item = str(entry).strip().lower().rstrip(".")
        if not item:
            continue
        try:
            networks.append(ipaddress.ip_network(item.strip("[]"), strict=False))
            continue
        except ValueError:
            pass
        if "/" in item or not all(part.replace("-", "").isalnum() for part in item.split(".")):
            raise InvalidInput(
                f"{WEBHOOK_ALLOW_ENV} entry {entry!r} is neither a host name, an address nor a "
                "CIDR network (e.g. hooks.internal, 10.20.0.0/16, 127.0.0.1)",
                field=WEBHOOK_ALLOW_ENV,
            )
        hosts.add(item)
    return Allowance(frozenset(hosts), tuple(networks))


def _environment_allowance() -> Allowance:
    return parse_allowance(os.environ.get(WEBHOOK_ALLOW_ENV))


def check_url_form(url: Any, *, field: str = "url") -> SplitResult:
    """The parts of ``url`` if it is an http(s) URL with a host and no credentials."""
    if not isinstance(url, str) or not url.strip() or len(url) > 2048:
        raise InvalidInput(
            f"webhook url must be an http(s) URL of at most 2048 characters, got {url!r}",
            field=field,
        )
    try:
        parts = urlsplit(url.strip())
        parts.port  # noqa: B018  (raises ValueError for a port out of range)
    except ValueError as exc:
        raise InvalidInput(f"webhook url {url!r} is not a valid URL: {exc}", field=field) from None
    if parts.scheme.lower() not in SCHEMES:
        raise InvalidInput(
            f"webhook url must start with http:// or https://, got scheme {parts.scheme!r}",
            field=field,
        )
    if not parts.hostname:
        raise InvalidInput(f"webhook url {url!r} names no host", field=field)
    if parts.username is not None or parts.password is not None:
        raise InvalidInput(
            "webhook url must not hold credentials (user:password@); pass them as headers, "
            'e.g. {"headers": {"Authorization": "Bearer ..."}}',
            field=field,
        )
    return parts


def _embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    if not isinstance(address, ipaddress.IPv6Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def refusal(address: IPAddress) -> str | None:
    """Why ``address`` is not a public destination (``"a loopback address"``), or None."""
    embedded = _embedded_ipv4(address)
    if embedded is not None:
        reason = refusal(embedded)
        if reason is not None:
            return f"{reason} ({embedded} inside {address})"
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            return None  # a socket connects to the IPv4 address itself
    checks: tuple[tuple[bool, str], ...] = (
        (address in METADATA_ADDRESSES, "a cloud metadata address"),
        (address.is_loopback, "a loopback address"),
        (address.is_unspecified, "the unspecified address"),
        (address.is_link_local, "a link-local address"),
        (address.is_multicast, "a multicast address"),
        (address in _SHARED, "a shared (carrier-grade NAT) address"),
        (address.is_reserved, "a reserved address"),
        (address.is_private, "a private address"),
        (not address.is_global, "an address that is not globally routable"),
    )
    return next((reason for refused, reason in checks if refused), None)


def _resolve(host: str, port: int, resolver: Resolver) -> tuple[IPAddress, ...]:
    try:
        found = resolver(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise Unavailable(f"cannot resolve webhook host {host!r}: {exc}") from None
    addresses: list[IPAddress] = []
    for *_, sockaddr in found:
        address = ipaddress.ip_address(str(sockaddr[0]).partition("%")[0])
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise Unavailable(f"webhook host {host!r} resolved to no address")
    return tuple(addresses)


def check_webhook_url(
    url: str,
    *,
    allow: Allowance | str | Iterable[str] | None = None,
    resolver: Resolver | None = None,
    field: str = "url",
) -> CheckedUrl:
    """Resolve ``url``'s host and refuse it unless every address is public or allowed.

    ``allow`` (default: ``KILN_WEBHOOK_ALLOW``) is the operator's allow-list.
    ``resolver`` (default: ``socket.getaddrinfo``) answers like
    ``getaddrinfo``. A refusal is ``InvalidInput`` naming the address and
    its class; a host that does not resolve is ``Unavailable`` (a later
    attempt may succeed).
    """
    parts = check_url_form(url, field=field)
    if allow is None:
        allowance = _environment_allowance()
    else:
        allowance = allow if isinstance(allow, Allowance) else parse_allowance(allow)
    scheme = parts.scheme.lower()
    host = str(parts.hostname).rstrip(".")
    port = parts.port or (443 if scheme == "https" else 80)
    addresses = _resolve(host, port, resolver or socket.getaddrinfo)
    for address in addresses:
        reason = refusal(address)
        if reason is not None and not allowance.admits(host, address):
            raise InvalidInput(
                f"webhook host {host!r} resolves to {address}, {reason}: Kiln posts alerts only "
                f"to public addresses. If this destination is meant, add {host} or {address} to "
                f"{WEBHOOK_ALLOW_ENV} (comma-separated hosts, addresses or CIDR networks) in the "
                "environment of the process that delivers alerts",
                field=field,
            )
    return CheckedUrl(url=url.strip(), scheme=scheme, host=host, port=port, addresses=addresses)
