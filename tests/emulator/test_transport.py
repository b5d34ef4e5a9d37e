"""SyncASGITransport: a sync httpx client talking to the ASGI app in process."""

from __future__ import annotations

import subprocess
import sys
import threading

import httpx
import pytest

from sora2.emulator import SyncASGITransport, create_app

from .helpers import AUTH, BASE_URL, PROMPT, path_of, submit_path


class TestSyncASGITransport:
    def test_a_sync_client_submits_and_reads_back(self) -> None:
        """A plain httpx.Client round-trips through the app: headers, status and body."""
        app = create_app()
        with httpx.Client(
            transport=SyncASGITransport(app), base_url=BASE_URL, headers=AUTH
        ) as http:
            response = http.post(submit_path(), json={"prompt": PROMPT})
            request_id = response.json()["request_id"]
            status = http.get(path_of("status", request_id))
        assert response.status_code == 200
        assert response.headers["x-request-id"]
        assert request_id == status.json()["request_id"]

    def test_one_transport_serves_many_threads(self) -> None:
        """Requests from several threads through one transport all succeed."""
        app = create_app()
        transport = SyncASGITransport(app)
        codes: list[int] = []
        lock = threading.Lock()

        def worker() -> None:
            http = httpx.Client(transport=transport, base_url=BASE_URL, headers=AUTH)
            for _ in range(5):
                code = http.post(submit_path(), json={"prompt": PROMPT}).status_code
                with lock:
                    codes.append(code)

        threads = [threading.Thread(target=worker) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        transport.close()
        assert codes == [200] * 20
        assert app.stats.submissions[PROMPT] == 20

    def test_a_closed_transport_refuses_requests(self) -> None:
        """After close() (here via the client), a new request raises instead of hanging."""
        transport = SyncASGITransport(create_app())
        with httpx.Client(transport=transport, base_url=BASE_URL, headers=AUTH) as http:
            http.get(path_of("status", "x"))
        with pytest.raises(RuntimeError, match="closed"):
            transport.handle_request(httpx.Request("GET", BASE_URL + path_of("status", "x")))

    def test_closing_an_unused_transport_is_harmless(self) -> None:
        """close() on a transport that never started its thread just marks it closed."""
        transport = SyncASGITransport(create_app())
        transport.close()
        transport.close()

    def test_the_read_timeout_applies_in_process(self) -> None:
        """A slow answer beyond the read timeout raises httpx.ReadTimeout, as over a socket."""
        app = create_app(faults="status:slow=5")
        with (
            httpx.Client(
                transport=SyncASGITransport(app), base_url=BASE_URL, headers=AUTH, timeout=0.05
            ) as http,
            pytest.raises(httpx.ReadTimeout),
        ):
            http.get(path_of("status", "x"))

    def test_streaming_a_response_works(self) -> None:
        """client.stream() reads the buffered body like any other response."""
        app = create_app()
        with (
            httpx.Client(transport=SyncASGITransport(app), base_url=BASE_URL) as http,
            http.stream("GET", "/openapi.json") as response,
        ):
            body = b"".join(response.iter_bytes())
        assert b'"openapi"' in body

    def test_an_unclosed_transport_does_not_block_exit(self) -> None:
        """A process that used a transport and never closed it still exits promptly."""
        code = (
            "import httpx\n"
            "from sora2.emulator import SyncASGITransport, create_app\n"
            "http = httpx.Client(transport=SyncASGITransport(create_app()), base_url='http://e')\n"
            "print(http.get('/openapi.json').status_code)\n"
        )
        done = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
        )
        assert done.stdout.strip() == "200"
        assert done.returncode == 0
