"""The API token never leaks: not in a log record, an error, a repr, the journal or the CLI's
output, and it is sent to no host but the API's, and never with a download."""

from __future__ import annotations

import logging
import sqlite3
import sys
import traceback
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import anyio
import click
import httpx
import pytest
import stamina
from click.testing import CliRunner, Result

from sora2 import APIError, AsyncClient, Client, Sora2Error
from sora2._cli import _common, main
from sora2._cli._common import Settings
from sora2._spec import operation
from sora2.emulator import Emulator, create_app

from .helpers import API_URL, TOKEN, FakeClock, choices, report, submit_answer

WRONG_TOKEN = "sk-reliability-wrong-55b0e2f1c8"
"""Rejected by the emulator; a secret too, so it must not show up either."""
SECRETS = (TOKEN, WRONG_TOKEN)
FAULTS = "status:429=0@first=1,result:502@first=1,video:500@first=1,cancel:drop@first=1"
"""One retry of each kind on the way: a rate limit, an HTML 502, a failed download, a lost
answer."""


@pytest.fixture(autouse=True)
def _no_backoff() -> Iterator[None]:
    """Retries happen and are logged, but never sleep."""
    with stamina.set_testing(True, attempts=100, cap=True):
        yield


@pytest.fixture
def emulator(clock: FakeClock) -> Emulator:
    return create_app(token=TOKEN, clock=clock.monotonic, faults=FAULTS)


@pytest.fixture
def debug_logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    """Every logger at DEBUG (sora2's, httpx's, httpcore's, the emulator's, uvicorn's)."""
    caplog.set_level(logging.DEBUG)
    return caplog


def _texts_of_error(error: BaseException) -> list[str]:
    """Everything a person or a log sees of an error: message, repr, the whole traceback."""
    return [str(error), repr(error), "".join(traceback.format_exception(error))]


def _texts_of_records(records: Sequence[logging.LogRecord]) -> list[str]:
    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    texts: list[str] = []
    for record in records:
        texts += [record.getMessage(), str(record.msg), repr(record.args), formatter.format(record)]
    return texts


def _journal_texts(journal: Path) -> list[str]:
    """Every column of every row, read with sqlite3 directly, and the raw bytes of the files."""
    with sqlite3.connect(journal) as conn:
        rows = conn.execute("SELECT * FROM jobs").fetchall()
    texts = [repr(row) for row in rows]
    for path in journal.parent.glob(journal.name + "*"):  # the database, its WAL and SHM
        texts.append(path.read_bytes().decode("latin-1"))
    assert rows, "the run wrote no journal rows: the search would prove nothing"
    return texts


def _leaks(texts: Sequence[str]) -> list[str]:
    return [text[:200] for text in texts for secret in SECRETS if secret in text]


class TestLibraryRun:
    def test_nothing_shows_the_token(
        self,
        emulator: Emulator,
        server: str,
        clock: FakeClock,
        tmp_path: Path,
        debug_logs: pytest.LogCaptureFixture,
        record_property: Callable[[str, object], None],
    ) -> None:
        """generate, status, result, cancel, jobs, resume, retries and errors, logged at DEBUG:
        no record, error, repr or journal row carries the token."""
        journal = tmp_path / "journal.sqlite3"
        texts: list[str] = []
        errors: list[BaseException] = []

        def attempt(call: Callable[[], Any]) -> Any:
            try:
                value = call()
            except Sora2Error as error:
                errors.append(error)
                texts.extend(_texts_of_error(error))
                return None
            texts.append(repr(value))
            return value

        with Client(TOKEN, base_url=server, journal=journal, _clock=clock) as client:
            texts += [repr(client), repr(client.journal), repr(client.with_options(timeout=5))]
            texts.append(repr(client._http.auth))
            attempt(lambda: client.generate("secret run: generate", out=tmp_path / "a.mp4"))
            queued = attempt(lambda: client.submit("secret run: cancel"))
            attempt(lambda: client.status(queued.request_id))
            attempt(lambda: client.cancel(queued.request_id))  # lost answer, retried: 409
            running = attempt(lambda: client.submit("secret run: resume"))
            clock.advance(sum(emulator.phase_durations(max(choices("seconds")))))
            attempt(lambda: client.cancel(running.request_id))
            attempt(lambda: client.result(running.request_id))
            attempt(lambda: client.status("no-such-job"))
            attempt(lambda: client.wait(running.request_id, timeout=0))
            texts += [repr(r) for r in client.jobs()]
            attempt(lambda: client.resume(out_dir=tmp_path / "resumed"))
        with Client(WRONG_TOKEN, base_url=server, journal=journal, _clock=clock) as wrong:
            attempt(lambda: wrong.status(running.request_id))
        texts += _journal_texts(journal)
        texts += _texts_of_records(debug_logs.records)
        texts += [repr(emulator), repr(emulator.stats)]

        kinds = sorted({type(e).__name__ for e in errors})
        assert {"AuthenticationError", "ConflictError", "NotFoundError"} <= set(kinds)
        messages = [r.getMessage() for r in debug_logs.records if r.name == "sora2"]
        assert any("retrying" in m for m in messages), "no retry was logged"
        assert [] == _leaks(texts)
        report(
            record_property,
            "secrets: library run",
            {
                "texts_searched": len(texts),
                "log_records": len(debug_logs.records),
                "errors": kinds,
                "faults": dict(emulator.stats.faults),
                "leaks": 0,
            },
        )


class _Main(click.Command):
    """Lets ``CliRunner`` drive ``sora2._cli.main``, its error mapping and exit codes included."""

    def main(self, args: Sequence[str] | None = None, *_: Any, **__: Any) -> Any:
        sys.exit(main(list(args or ())))


class TestCliRun:
    @pytest.fixture
    def cli(
        self, clock: FakeClock, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
    ) -> Callable[..., Result]:
        """``sora2 ARGS -v`` in process, on the shared fake clock, with the token in the
        environment as a user would have it."""

        def make_client(settings: Settings) -> Client:
            return Client(base_url=settings.base_url, journal=settings.journal_option, _clock=clock)

        monkeypatch.setattr(_common, "make_client", make_client)
        monkeypatch.setenv("RUNCOMFY_API_TOKEN", TOKEN)

        def run(*args: str) -> Result:
            return CliRunner().invoke(_Main("sora2"), [*args, "-v"], catch_exceptions=False)

        return run

    def test_no_output_shows_the_token(
        self,
        cli: Callable[..., Result],
        emulator: Emulator,
        server: str,
        clock: FakeClock,
        tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch,
        record_property: Callable[[str, object], None],
    ) -> None:
        """Every job command with -v (DEBUG logs on stderr), JSON or not, and an auth error:
        neither stdout nor stderr carries the token."""
        journal = str(tmp_path / "cli-journal.sqlite3")
        common = ("--base-url", server, "--journal", journal)
        results: list[Result] = [
            cli("generate", "cli secret run", "--out", str(tmp_path / "cli.mp4"), *common)
        ]
        submitted = cli("submit", "cli secret cancel", "--json", *common)
        results.append(submitted)
        import json

        request_id = json.loads(submitted.stdout)["request_id"]
        results += [
            cli("status", request_id, *common),
            cli("cancel", request_id, *common),
            cli("result", request_id, "--json", *common),
            cli("jobs", *common),
            cli("jobs", "--json", *common),
            cli("resume", *common),
        ]
        monkeypatch.setenv("RUNCOMFY_API_TOKEN", WRONG_TOKEN)
        denied = cli("status", request_id, *common)
        results.append(denied)

        assert 0 == results[0].exit_code, results[0].stderr
        assert 1 == denied.exit_code and "401" in denied.stderr
        assert any("DEBUG sora2" in r.stderr for r in results), "no -v log was captured"
        texts = [r.stdout for r in results] + [r.stderr for r in results]
        texts += _journal_texts(Path(journal))
        assert [] == _leaks(texts)
        report(
            record_property,
            "secrets: CLI run",
            {
                "commands": len(results),
                "exit_codes": [r.exit_code for r in results],
                "output_chars_searched": sum(len(t) for t in texts),
                "leaks": 0,
            },
        )


# Where the token goes ---------------------------------------------------------------------------

ELSEWHERE = "https://elsewhere.runcomfy.com"
"""Another host, trusted for downloads (RunComfy's suffix): a redirect there is followed."""
CDN = "https://cdn.runcomfy.net"
VIDEO = b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 8


def _service(video_url: str) -> Callable[[httpx.Request], httpx.Response]:
    """An API whose answers point every URL at other hosts, and files that redirect."""

    def handler(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if operation("submit").match(request.method, path) is not None:
            return httpx.Response(200, json=submit_answer("job-1", base=ELSEWHERE))
        if operation("status").match(request.method, path) is not None:
            return httpx.Response(200, json={"request_id": "job-1", "status": "completed"})
        if operation("result").match(request.method, path) is not None:
            body = {"request_id": "job-1", "status": "completed", "output": {"video": video_url}}
            return httpx.Response(200, json=body)
        if path == "/redirect/v.mp4":
            return httpx.Response(302, headers={"Location": ELSEWHERE + "/v.mp4"})
        if path.endswith("v.mp4"):
            return httpx.Response(200, headers={"Content-Type": "video/mp4"}, content=VIDEO)
        return httpx.Response(404)

    return handler


VIDEO_URLS = {
    "cdn": CDN + "/v.mp4",
    "redirect-elsewhere": CDN + "/redirect/v.mp4",
    "api-origin": API_URL + "/files/v.mp4",
    "api-origin-redirect": API_URL + "/redirect/v.mp4",
}


_OPERATIONS = ("submit", "status", "result", "cancel")


def _check_requests(sent: list[httpx.Request]) -> None:
    api_host = httpx.URL(API_URL).host
    api_calls = [r for r in sent if r.url.host == api_host and not r.url.path.endswith("v.mp4")]
    others = [r for r in sent if r not in api_calls]
    assert api_calls and others
    assert all(f"Bearer {TOKEN}" == r.headers.get("authorization") for r in api_calls)
    for request in others:  # file downloads, on any host, the API's own included
        assert "authorization" not in request.headers, request.url
        assert TOKEN not in str(request.url) and TOKEN.encode() not in request.content
    for request in sent:  # the URLs of the submit answer, on another host, are never followed
        if any(operation(o).match(request.method, request.url.path) for o in _OPERATIONS):
            assert api_host == request.url.host, request.url


@pytest.mark.parametrize("where", list(VIDEO_URLS))
class TestTokenDestinations:
    def test_sync_client(self, where: str, tmp_path: Path) -> None:
        """The URLs an answer names (status_url, a video elsewhere, a redirect) never get the
        token; the API's own calls always do; a download never does, even from the API host."""
        sent: list[httpx.Request] = []
        handler = _service(VIDEO_URLS[where])

        def recording(request: httpx.Request) -> httpx.Response:
            sent.append(request)
            return handler(request)

        with Client(
            TOKEN, base_url=API_URL, transport=httpx.MockTransport(recording), journal=False
        ) as client:
            (path,) = client.generate("where does it go", out=tmp_path / "v.mp4")
            assert VIDEO == path.read_bytes()
        _check_requests(sent)

    def test_async_client(self, where: str, tmp_path: Path) -> None:
        """The async client sends the token to the same places, and only there."""
        sent: list[httpx.Request] = []
        handler = _service(VIDEO_URLS[where])

        def recording(request: httpx.Request) -> httpx.Response:
            sent.append(request)
            return handler(request)

        async def run() -> bytes:
            async with AsyncClient(
                TOKEN, base_url=API_URL, transport=httpx.MockTransport(recording), journal=False
            ) as client:
                (path,) = await client.generate("where does it go", out=tmp_path / "v.mp4")
                return path.read_bytes()

        assert VIDEO == anyio.run(run)
        _check_requests(sent)


class TestApiRedirects:
    def test_a_redirecting_api_is_not_followed(self) -> None:
        """An API answer that redirects to another host is an error, not a second request that
        would carry the token there."""
        sent: list[httpx.Request] = []

        def handler(request: httpx.Request) -> httpx.Response:
            sent.append(request)
            return httpx.Response(307, headers={"Location": ELSEWHERE + request.url.path})

        with Client(
            TOKEN, base_url=API_URL, transport=httpx.MockTransport(handler), journal=False
        ) as client:
            with pytest.raises(APIError):
                client.status("job-1")
            with pytest.raises(APIError):
                client.result("job-1")
        assert {httpx.URL(API_URL).host} == {r.url.host for r in sent}
