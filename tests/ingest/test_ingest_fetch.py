"""Safe fetch of remote media, against an HTTP server the test starts on 127.0.0.1."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from echo_bench.ingest import FetchSettings, IngestSettings, ingest_dumps
from echo_bench.ingest import fetch as fetch_mod
from echo_bench.ingest.fetch import FetchError, address_refusal, fetch_image, make_client


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False


@pytest.fixture
def server(images) -> Iterator[str]:
    png = images.png(size=(32, 32), color=(9, 99, 199))
    hits: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:  # keep test output quiet
            pass

        def _send(self, code: int, body: bytes, ctype: str, headers: dict | None = None) -> None:
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:  # noqa: N802 - http.server API
            hits.append(self.path)
            host = self.headers.get("Host")
            if self.path == "/ok.png":
                self._send(200, png, "image/png", {"X-Seen-Host": host or ""})
            elif self.path == "/html":
                self._send(200, b"<html>not an image</html>", "text/html")
            elif self.path == "/big.png":
                self._send(200, png + b"\0" * 50_000, "image/png")
            elif self.path == "/big-chunked.png":
                self.send_response(200)
                self.send_header("Content-Type", "image/png")
                self.end_headers()  # no Content-Length: the cap must hold while streaming
                for _ in range(40):
                    self.wfile.write(b"\0" * 4096)
            elif self.path == "/slow.png":
                time.sleep(3)
                self._send(200, png, "image/png")
            elif self.path == "/redirect":
                self._send(302, b"", "text/plain", {"Location": "/ok.png"})
            elif self.path == "/loop":
                self._send(302, b"", "text/plain", {"Location": "/loop"})
            elif self.path == "/to-metadata":
                self._send(302, b"", "text/plain", {"Location": "http://169.254.169.254/latest/meta-data/"})
            elif self.path == "/missing.png":
                self._send(404, b"no", "text/plain")
            else:
                self._send(404, b"no", "text/plain")

    srv = _Server(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{srv.server_address[1]}"
    finally:
        srv.shutdown()
        srv.server_close()


def _fetch(url: str, *, allow_private: bool = True, timeout_s: float = 2.0, max_bytes: int = 20_000, **kw):
    with make_client(timeout_s) as client:
        return fetch_image(
            url, client=client, timeout_s=timeout_s, max_bytes=max_bytes, max_redirects=3, allow_private=allow_private, **kw
        )


def _reason(url: str, **kw) -> str:
    with pytest.raises(FetchError) as e:
        _fetch(url, **kw)
    return e.value.reason


def test_loopback_refused_by_default(server: str) -> None:
    assert _reason(f"{server}/ok.png", allow_private=False) == "private_address"
    port = server.rsplit(":", 1)[1]
    assert _reason(f"http://localhost:{port}/ok.png", allow_private=False) == "private_address"
    assert _reason(f"http://[::1]:{port}/ok.png", allow_private=False) == "private_address"


def test_address_policy() -> None:
    for addr in ("127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254", "224.0.0.1",
                 "0.0.0.0", "240.0.0.1", "100.64.0.1", "::1", "fe80::1", "fc00::1", "::ffff:127.0.0.1", "ff02::1"):
        assert address_refusal(addr) is not None, addr
    for addr in ("8.8.8.8", "151.101.1.69", "2606:4700::6810:84e5"):
        assert address_refusal(addr) is None, addr


def test_every_resolved_address_is_checked(server: str) -> None:
    # a name that resolves to a public and a private address is refused
    def resolver(host: str, port: int) -> list[str]:
        return ["93.184.216.34", "10.0.0.5"]

    assert _reason("http://mixed.example/x.png", allow_private=False, resolver=resolver) == "private_address"


def test_connects_to_the_checked_address(server: str) -> None:
    # DNS rebinding: the name is resolved once, checked, and that very address is dialled;
    # the Host header still carries the name
    port = server.rsplit(":", 1)[1]
    calls: list[str] = []

    def resolver(host: str, port_: int) -> list[str]:
        calls.append(host)
        return ["127.0.0.1"]

    got = _fetch(f"http://images.example:{port}/ok.png", resolver=resolver)
    assert got.content_type == "image/png" and got.data.startswith(b"\x89PNG")
    assert calls == ["images.example"]


def test_allowed_fetch_and_redirect(server: str) -> None:
    got = _fetch(f"{server}/ok.png")
    assert got.data.startswith(b"\x89PNG")
    got = _fetch(f"{server}/redirect")
    assert got.url.endswith("/ok.png")


def test_fetch_failures(server: str) -> None:
    assert _reason(f"{server}/html") == "bad_content_type"
    assert _reason(f"{server}/big.png") == "fetch_too_large"
    assert _reason(f"{server}/big-chunked.png") == "fetch_too_large"
    assert _reason(f"{server}/loop") == "too_many_redirects"
    assert _reason(f"{server}/missing.png") == "fetch_failed"
    t0 = time.monotonic()
    assert _reason(f"{server}/slow.png", timeout_s=0.5) == "fetch_timeout"
    assert time.monotonic() - t0 < 2.5
    assert _reason("ftp://example.com/x.png") == "bad_scheme"
    assert _reason("http://user:pw@example.com/x.png") == "bad_url"


def test_redirect_target_is_rechecked(server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # let the test server's own address through, as if it were public; the redirect to the
    # link-local metadata address must still be refused before any connection is made
    real = fetch_mod.address_refusal
    monkeypatch.setattr(fetch_mod, "address_refusal", lambda a: None if a == "127.0.0.1" else real(a))
    assert _fetch(f"{server}/ok.png", allow_private=False).data.startswith(b"\x89PNG")
    assert _reason(f"{server}/to-metadata", allow_private=False) == "private_address"


def test_ingest_with_fetch(server: str, tmp_path: Path) -> None:
    dump = tmp_path / "d"
    dump.mkdir()
    names = ["ok.png", "redirect", "html", "big.png", "slow.png", "missing.png"]
    tweets = [
        {"id": str(i + 1), "text": n, "author_id": "1", "created_at": f"2025-01-0{i + 1}T00:00:00Z",
         "attachments": {"media_keys": [f"3_{i}"]}}
        for i, n in enumerate(names)
    ]
    media = [{"media_key": f"3_{i}", "type": "photo", "url": f"{server}/{n}"} for i, n in enumerate(names)]
    (dump / "p.json").write_text(json.dumps({"data": tweets, "includes": {"media": media}}))
    fetch = FetchSettings(enabled=True, allow_private=True, timeout_s=0.5, max_bytes=20_000, max_redirects=2)
    store = tmp_path / "store"
    res = ingest_dumps([(dump, "auto")], store, IngestSettings(fetch=fetch, workers=3))
    assert res.posts.height == len(names)
    assert res.media.select("status", "reason").rows() == [
        ("ok", None),
        ("ok", None),
        ("rejected", "bad_content_type"),
        ("rejected", "fetch_too_large"),
        ("missing", "fetch_timeout"),
        ("missing", "fetch_failed"),
    ]
    assert res.media["duplicate_of"].to_list()[:2] == [None, "3_0"]
    assert res.quarantine["reason"].to_list() == ["bad_content_type", "fetch_too_large", "fetch_timeout", "fetch_failed"]
    assert len(list(store.iterdir())) == 1
    # default policy: the same dump fetched without allow_private is refused
    res = ingest_dumps([(dump, "auto")], None, IngestSettings(fetch=FetchSettings(enabled=True, timeout_s=0.5)))
    assert set(res.media["reason"]) == {"private_address"}


def test_client_ignores_proxy_environment(monkeypatch: pytest.MonkeyPatch, server: str) -> None:
    monkeypatch.setenv("HTTP_PROXY", "http://10.255.255.1:9")
    monkeypatch.setenv("ALL_PROXY", "http://10.255.255.1:9")
    assert _fetch(f"{server}/ok.png").data.startswith(b"\x89PNG")
    assert isinstance(make_client(1.0), httpx.Client)
