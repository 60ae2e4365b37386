"""Who is on the other end of a request: the client's address and whether it came over TLS.

Both come from the connection itself. X-Forwarded-For and X-Forwarded-Proto are headers any
client can send, so they are believed only from a peer listed in OPSJOBS_TRUSTED_PROXIES;
then the client is the nearest address in X-Forwarded-For that is not itself a trusted proxy.
"""

from __future__ import annotations

import ipaddress
from functools import cached_property

from starlette.requests import Request

_Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class Peers:
    def __init__(self, trusted_proxies: tuple[str, ...]) -> None:
        self._trusted_texts = trusted_proxies

    @cached_property
    def _trusted(self) -> tuple[_Network, ...]:
        return tuple(ipaddress.ip_network(n, strict=False) for n in self._trusted_texts)

    def _is_trusted(self, address: str) -> bool:
        if not self._trusted_texts:
            return False
        try:
            parsed = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(parsed in network for network in self._trusted)

    def _via_proxy(self, request: Request) -> bool:
        return request.client is not None and self._is_trusted(request.client.host)

    def address(self, request: Request) -> str:
        peer = request.client.host if request.client else "-"
        if not self._via_proxy(request):
            return peer
        forwarded = [
            part.strip()
            for value in request.headers.getlist("x-forwarded-for")
            for part in value.split(",")
        ]
        for hop in reversed(forwarded):
            if hop and not self._is_trusted(hop):
                return hop
        return peer

    def is_tls(self, request: Request) -> bool:
        if request.url.scheme in ("https", "wss"):
            return True
        if not self._via_proxy(request):
            return False
        # The proxy nearest to us speaks last.
        proto = request.headers.get("x-forwarded-proto", "").split(",")[-1].strip().lower()
        return proto == "https"
