"""Safe HTTP(S) download of a post image.

A dump is untrusted input: its URLs may point at the machine running the
pipeline or at its private network (SSRF).  So a fetch

* accepts only ``http``/``https`` URLs without credentials;
* resolves the host itself and refuses it if *any* resolved address is
  private, loopback, link-local, multicast, reserved, unspecified or otherwise
  not globally routable (IPv4-mapped IPv6 addresses are checked as IPv4);
* connects to the address it checked (the URL is rewritten to the IP, the
  ``Host`` header and TLS SNI/certificate check keep the name), so a second DNS
  answer cannot swap in another address (DNS rebinding);
* follows at most ``max_redirects`` redirects, each one checked the same way;
* enforces a per-operation timeout and an overall deadline, a size cap while
  streaming (and on ``Content-Length``), and a ``Content-Type`` of ``image/*``;
* ignores proxy environment variables and asks for an unencoded body.

``allow_private`` turns the address check off; it exists so tests can fetch
from a server they start on 127.0.0.1 and must stay false in real runs.
"""

from __future__ import annotations

import ipaddress
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import httpx

USER_AGENT = "echo-bench-ingest/0.1"
_REDIRECTS = frozenset({301, 302, 303, 307, 308})

Resolver = Callable[[str, int], list[str]]


class FetchError(Exception):
    """A refused or failed download; ``status``/``reason`` go to the MEDIA row."""

    def __init__(self, status: str, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class Fetched:
    data: bytes
    content_type: str
    url: str  # the URL the bytes came from, after redirects


def system_resolver(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to, in the resolver's order."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    out: list[str] = []
    for info in infos:
        addr = str(info[4][0]).split("%", 1)[0]  # drop an IPv6 zone id
        if addr not in out:
            out.append(addr)
    return out


def address_refusal(addr: str) -> str | None:
    """Why ``addr`` may not be fetched from, or None if it is a public unicast address."""
    ip = ipaddress.ip_address(addr)
    if ip.version == 6 and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    for attr in ("is_loopback", "is_private", "is_link_local", "is_multicast", "is_reserved", "is_unspecified"):
        if getattr(ip, attr):
            return attr[3:].replace("_", "-")
    if not ip.is_global:
        return "not-global"
    return None


def _check_url(url: str) -> tuple[str, str, int]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise FetchError("rejected", "bad_scheme", f"only http and https can be fetched, not {scheme or 'no scheme'!r}")
    if parts.username is not None or parts.password is not None:
        raise FetchError("rejected", "bad_url", "URLs with credentials are not fetched")
    host = parts.hostname
    if not host:
        raise FetchError("rejected", "bad_url", f"no host in {url!r}")
    try:
        port = parts.port or (443 if scheme == "https" else 80)
    except ValueError as e:
        raise FetchError("rejected", "bad_url", f"bad port in {url!r}: {e}") from None
    return scheme, host, port


def _ip_url(url: str, scheme: str, ip: str, port: int) -> str:
    parts = urlsplit(url)
    host = f"[{ip}]" if ":" in ip else ip
    path = parts.path or "/"
    query = f"?{parts.query}" if parts.query else ""
    return f"{scheme}://{host}:{port}{path}{query}"


def make_client(timeout_s: float) -> httpx.Client:
    """An httpx client fit for :func:`fetch_image` (no proxies from env, no auto-redirects)."""
    return httpx.Client(
        timeout=httpx.Timeout(timeout_s),
        follow_redirects=False,
        trust_env=False,
        headers={"User-Agent": USER_AGENT, "Accept": "image/*", "Accept-Encoding": "identity"},
    )


def fetch_image(
    url: str,
    *,
    client: httpx.Client,
    timeout_s: float,
    max_bytes: int,
    max_redirects: int,
    allow_private: bool = False,
    resolver: Resolver = system_resolver,
) -> Fetched:
    """Download ``url`` under the rules of this module; raises :class:`FetchError`."""
    deadline = time.monotonic() + timeout_s
    current = url
    for _hop in range(max_redirects + 1):
        if time.monotonic() > deadline:  # a redirect chain used up the whole budget
            raise FetchError("missing", "fetch_timeout", f"no answer within {timeout_s}s")
        scheme, host, port = _check_url(current)
        try:
            addrs = [host] if _is_ip(host) else resolver(host, port)
        except (OSError, UnicodeError) as e:
            raise FetchError("missing", "fetch_failed", f"cannot resolve {host!r}: {e}") from None
        if not addrs:
            raise FetchError("missing", "fetch_failed", f"{host!r} resolves to no address")
        if not allow_private:
            for addr in addrs:
                why = address_refusal(addr)
                if why:
                    raise FetchError("rejected", "private_address", f"{host} resolves to {addr} ({why})")
        ip = addrs[0]
        host_header = f"[{host}]" if ":" in host else host
        if port != (443 if scheme == "https" else 80):
            host_header = f"{host_header}:{port}"
        extensions = {"sni_hostname": host} if scheme == "https" and not _is_ip(host) else {}
        try:
            with client.stream(
                "GET", _ip_url(current, scheme, ip, port), headers={"Host": host_header}, extensions=extensions
            ) as r:
                if r.status_code in _REDIRECTS:
                    location = r.headers.get("location")
                    if not location:
                        raise FetchError("missing", "fetch_failed", f"HTTP {r.status_code} without a Location")
                    current = urljoin(current, location)
                    continue
                if r.status_code != 200:
                    raise FetchError("missing", "fetch_failed", f"HTTP {r.status_code} from {current}")
                ctype = r.headers.get("content-type", "").split(";", 1)[0].strip().lower()
                if not ctype.startswith("image/"):
                    raise FetchError("rejected", "bad_content_type", f"content-type {ctype or 'missing'!r} is not image/*")
                length = r.headers.get("content-length")
                if length and length.isdigit() and int(length) > max_bytes:
                    raise FetchError("rejected", "fetch_too_large", f"Content-Length {length} > {max_bytes} bytes")
                chunks: list[bytes] = []
                total = 0
                for chunk in r.iter_raw():
                    total += len(chunk)
                    if total > max_bytes:
                        raise FetchError("rejected", "fetch_too_large", f"body exceeds {max_bytes} bytes")
                    if time.monotonic() > deadline:
                        raise FetchError("missing", "fetch_timeout", f"download took longer than {timeout_s}s")
                    chunks.append(chunk)
                return Fetched(b"".join(chunks), ctype, current)
        except httpx.TimeoutException as e:
            raise FetchError("missing", "fetch_timeout", f"timed out after {timeout_s}s: {type(e).__name__}") from None
        except httpx.HTTPError as e:
            raise FetchError("missing", "fetch_failed", f"{type(e).__name__}: {e}"[:300]) from None
    raise FetchError("rejected", "too_many_redirects", f"more than {max_redirects} redirects from {url}")


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True
