"""serve(): uvicorn in a background thread on 127.0.0.1, driven over real HTTP."""

from __future__ import annotations

import errno
import re
import socket

import httpx
import pytest

from sora2.emulator import create_app, serve

from .helpers import AUTH, PROMPT, path_of, submit_path


class TestBind:
    def test_an_address_in_use_is_named(self) -> None:
        """Binding a port already taken fails naming the host and port, not just "in use"."""
        from sora2.emulator._serve import bind

        taken = socket.socket()
        try:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            port = taken.getsockname()[1]
            with pytest.raises(OSError) as caught:
                bind("127.0.0.1", port)
        finally:
            taken.close()
        assert errno.EADDRINUSE == caught.value.errno
        assert f"cannot listen on 127.0.0.1:{port}: " in str(caught.value)


class TestServe:
    def test_a_job_runs_end_to_end_over_http(self) -> None:
        """Over a socket the emulator answers with URLs pointing back at itself."""
        clock_now = [0.0]
        app = create_app(clock=lambda: clock_now[0])
        with serve(app) as url, httpx.Client(base_url=url, headers=AUTH, trust_env=False) as http:
            assert re.fullmatch(r"http://127\.0\.0\.1:\d+", url)
            submitted = http.post(submit_path(), json={"prompt": PROMPT}).json()
            assert submitted["status_url"].startswith(url + "/")
            clock_now[0] = 1_000
            result = http.get(submitted["result_url"]).json()
            video = httpx.get(result["output"]["video"], trust_env=False)
        assert result["status"] == "completed"
        assert video.status_code == 200
        assert video.content[4:8] == b"ftyp"

    def test_a_drop_over_a_socket_is_a_remote_protocol_error(self) -> None:
        """An injected drop closes the TCP connection: httpx sees RemoteProtocolError."""
        app = create_app(faults="status:drop@first=1")
        with serve(app) as url, httpx.Client(base_url=url, headers=AUTH, trust_env=False) as http:
            with pytest.raises(httpx.RemoteProtocolError):
                http.get(path_of("status", "x"))
            assert http.get(path_of("status", "x")).status_code == 404

    def test_a_slow_answer_times_out_a_client(self) -> None:
        """A slow fault longer than the client's read timeout raises httpx.ReadTimeout."""
        app = create_app(faults="status:slow=0.5@first=1")
        with (
            serve(app) as url,
            httpx.Client(base_url=url, headers=AUTH, timeout=0.05, trust_env=False) as http,
            pytest.raises(httpx.ReadTimeout),
        ):
            http.get(path_of("status", "x"))

    def test_the_server_stops_when_the_block_exits(self) -> None:
        """After the with block nothing listens on the port any more."""
        with serve(create_app()) as url:
            assert httpx.get(url + "/nowhere", trust_env=False).status_code == 404
        with pytest.raises(httpx.ConnectError):
            httpx.get(url + "/nowhere", trust_env=False)
