"""Who the client is: the TCP peer, or the address a trusted proxy forwarded in ``X-Forwarded-For``.

Every per-client limit (relay rate, new signers, uploads) counts in ``limits.client_key`` of
what ``client_host`` answers. By default no proxy is trusted and the peer is the client,
whatever headers it sends: a same-host forwarder that adds no header (an onion service, an ssh
or socat tunnel, HAProxy in TCP mode) connects from loopback, so loopback must not be trusted
by default as uvicorn does (``python -m backend serve`` turns uvicorn's own handling off).

With ``INDELIBLE_TRUSTED_PROXIES`` (addresses or networks, comma-separated), a request whose
peer is one of them is from the address its proxies recorded: the ``X-Forwarded-For`` entries
(every such header, in order, as one list) are read from the right, skipping trusted proxies,
and the first untrusted one is the client; entries further left were written by that client and
are not believed. An entry that is not an IP address (IPv4, IPv6, either with a port) is
refused (400). ``Forwarded`` (RFC 7239) and ``X-Real-IP`` are not read: a proxy that sets only
``X-Forwarded-For`` would pass a client's own ``Forwarded`` header through.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
TRUSTED_PROXIES_ENV = "INDELIBLE_TRUSTED_PROXIES"
MAX_HOPS = 32  # forwarded entries read from the right before the request is refused as a loop or a lie


class ForwardedAddressError(ValueError):
    """A trusted proxy's request whose forwarded address is not an IP address (answered 400)."""


def parse_proxies(value: str) -> tuple[Network, ...]:
    """The networks of ``INDELIBLE_TRUSTED_PROXIES`` ("10.0.0.1, 192.168.0.0/16, ::1"); ValueError naming it."""
    networks = []
    for entry in (part.strip() for part in value.split(",")):
        if not entry:
            continue
        try:
            network = ipaddress.ip_network(entry, strict=False)
        except ValueError:
            raise ValueError(f"{TRUSTED_PROXIES_ENV}: {entry!r} is not an IP address or network") from None
        networks.append(network)
    return tuple(networks)


def parse_address(text: str) -> Address | None:
    """An address as proxies write it: IPv4, IPv6, ``[IPv6]``, either with a port; None if it is none of those."""
    text = text.strip()
    if text.startswith("["):
        inside, bracket, rest = text[1:].partition("]")
        if not bracket or (rest and not _is_port(rest)):
            return None
        text = inside
    elif text.count(":") == 1:  # IPv4 with a port (an IPv6 address has at least two colons)
        text, _, port = text.partition(":")
        if not _is_port(":" + port):
            return None
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def client_host(peer: str | None, forwarded_for: Iterable[str], trusted: tuple[Network, ...]) -> str | None:
    """The client's address: ``peer``, or the rightmost untrusted ``X-Forwarded-For`` entry when ``peer`` is trusted.

    ``forwarded_for``: the values of every ``X-Forwarded-For`` header of the request, in order.
    """
    if not trusted or peer is None:
        return peer
    current = parse_address(peer)
    if current is None or not _trusted(current, trusted):
        return peer
    hops = [hop for value in forwarded_for for hop in value.split(",")]
    for count, hop in enumerate(reversed(hops)):
        if count >= MAX_HOPS:
            raise ForwardedAddressError(f"X-Forwarded-For has more than {MAX_HOPS} entries from trusted proxies")
        address = parse_address(hop)
        if address is None:
            shown = hop.strip()[:60]
            raise ForwardedAddressError(f"X-Forwarded-For entry {shown!r} is not an IP address")
        current = address
        if not _trusted(address, trusted):
            break
    return str(current)


def _trusted(address: Address, trusted: tuple[Network, ...]) -> bool:
    return any(address.version == network.version and address in network for network in trusted)


def _is_port(text: str) -> bool:
    digits = text.removeprefix(":")
    return text.startswith(":") and digits.isdigit() and len(digits) <= 5 and int(digits) <= 65535
