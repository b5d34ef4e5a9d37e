"""The download transport checks every resolved address before it connects: proved on real
servers on 127.0.0.1 that count the connections they accept."""

from __future__ import annotations

import contextlib
import http.server
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from sora2 import DownloadError
from sora2._guarded import GuardedTransport
from sora2._hosted import _own_host_only
from sora2._transports import HostPolicy
from sora2.emulator import create_app, serve

from .helpers import TOKEN, Factory, FakeClock

pytestmark = pytest.mark.anyio

API = "https://model-api.runcomfy.net"
VIDEO = b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 16


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        target = parse_qs(urlsplit(self.path).query).get("to")
        if target:
            self.send_response(302)
            self.send_header("Location", target[0])
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Type", "video/mp4")
        self.send_header("Content-Length", str(len(VIDEO)))
        self.end_headers()
        self.wfile.write(VIDEO)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _CountingServer(http.server.ThreadingHTTPServer):
    """A file server on 127.0.0.1 that counts the connections it accepts."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.connections = 0

    def verify_request(self, request: Any, client_address: Any) -> bool:
        self.connections += 1
        return True

    @property
    def port(self) -> int:
        return int(self.server_address[1])


@contextlib.contextmanager
def _running() -> Iterator[_CountingServer]:
    found = _CountingServer()
    thread = threading.Thread(target=found.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    try:
        yield found
    finally:
        found.shutdown()
        found.server_close()
        thread.join()


@pytest.fixture
def server() -> Iterator[_CountingServer]:
    with _running() as found:
        yield found


@pytest.fixture
def other_server() -> Iterator[_CountingServer]:
    with _running() as found:
        yield found


def _loopback_names() -> set[str]:
    return {
        str(info[4][0]) for info in socket.getaddrinfo("localhost", 80, type=socket.SOCK_STREAM)
    }


class TestNoConnection:
    @pytest.mark.parametrize(
        "template",
        [
            "http://127.0.0.1:{port}/containers/json",
            "https://127.0.0.1:{port}/v.mp4",
            "http://localhost:{port}/v.mp4",
            "https://[::ffff:127.0.0.1]:{port}/v.mp4",
        ],
    )
    async def test_a_loopback_url_never_connects(
        self, make_api: Factory, server: _CountingServer, tmp_path: Path, template: str
    ) -> None:
        """A client of the real API refuses a loopback output URL without opening a connection."""
        api = make_api(base_url=API)
        with pytest.raises(DownloadError, match="refusing"):
            await api.download(template.format(port=server.port), tmp_path / "v.mp4")
        assert 0 == server.connections

    async def test_a_trusted_name_resolving_to_loopback_is_refused(
        self, make_api: Factory, server: _CountingServer, tmp_path: Path
    ) -> None:
        """Trusting the name ``localhost`` passes the URL check, but its resolved loopback
        address is refused before connecting."""
        url = f"http://localhost:{server.port}/v.mp4"
        api = make_api(base_url=API, trusted_hosts=["localhost"])
        HostPolicy.for_client(httpx.URL(API), ["localhost"], environ={}).check_url(
            url, request_id=None
        )
        with pytest.raises(DownloadError, match="not a public address") as caught:
            await api.download(url, tmp_path / "v.mp4")
        assert any(address in str(caught.value) for address in _loopback_names())
        assert 0 == server.connections
        assert not (tmp_path / "v.mp4").exists()

    async def test_a_redirect_to_an_untrusted_name_is_not_followed(
        self,
        make_api: Factory,
        server: _CountingServer,
        other_server: _CountingServer,
        tmp_path: Path,
    ) -> None:
        """A trusted server's redirect to another host is refused before connecting there."""
        admin = f"http://localhost:{other_server.port}/admin"
        api = make_api(base_url=API, trusted_hosts=["127.0.0.1"])
        with pytest.raises(DownloadError, match="refusing"):
            await api.download(f"http://127.0.0.1:{server.port}/r?to={admin}", tmp_path / "v")
        assert (1, 0) == (server.connections, other_server.connections)


class TestAllowed:
    async def test_trusting_the_addresses_lets_the_name_connect(
        self, make_api: Factory, server: _CountingServer, tmp_path: Path
    ) -> None:
        """``--trust-host`` with the addresses themselves lets a name on loopback download."""
        api = make_api(base_url=API, trusted_hosts=["localhost", "127.0.0.0/8", "::1"])
        (path,) = await api.download(f"http://localhost:{server.port}/v.mp4", tmp_path / "v.mp4")
        assert VIDEO == path.read_bytes()
        assert server.connections >= 1

    async def test_trusting_an_address_lets_it_connect(
        self, make_api: Factory, server: _CountingServer, tmp_path: Path
    ) -> None:
        """An address the user trusts downloads, plain http included."""
        api = make_api(base_url=API, trusted_hosts=["127.0.0.1"])
        (path,) = await api.download(f"http://127.0.0.1:{server.port}/v.mp4", tmp_path / "v.mp4")
        assert VIDEO == path.read_bytes()
        assert 1 == server.connections

    async def test_the_served_emulators_own_urls_download(
        self, make_api: Factory, clock: FakeClock, tmp_path: Path
    ) -> None:
        """The emulator served on 127.0.0.1 is the API's own origin: its videos download over
        the real network path."""
        app = create_app(token=TOKEN, clock=clock.monotonic)
        with serve(app) as url:
            api = make_api(base_url=url)
            (path,) = await api.generate("a fox", out=tmp_path / "fox.mp4")
        assert b"ftyp" == path.read_bytes()[4:8]


class TestHostedGuard:
    def test_the_users_own_host_may_be_private(self, server: _CountingServer) -> None:
        """The hosted-file check connects to the user's own host, whatever its address."""
        guard = GuardedTransport(_own_host_only("localhost"), limits=httpx.Limits())
        with httpx.Client(transport=guard) as client:
            response = client.get(f"http://localhost:{server.port}/input.mp4")
        assert 200 == response.status_code

    def test_another_name_on_a_private_address_is_refused(self, server: _CountingServer) -> None:
        """A redirect's host that resolves to loopback is refused before connecting."""
        guard = GuardedTransport(_own_host_only("files.example"), limits=httpx.Limits())
        with httpx.Client(transport=guard) as client, pytest.raises(DownloadError):
            client.get(f"http://localhost:{server.port}/input.mp4")
        assert 0 == server.connections
