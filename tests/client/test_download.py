"""download(): atomic, checked, capped, and never carrying the token off the API's host."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from sora2 import DownloadError
from sora2._journal import Journal
from sora2._types import JobResult, OutputFile
from sora2.emulator import Emulator

from .helpers import TOKEN, Api, Factory, FakeClock, Script, json_response, submit_body

pytestmark = pytest.mark.anyio

VIDEO = b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 40
CDN = "https://cdn.runcomfy.net/outputs/req-1/video.mp4"
"""RunComfy's CDN: trusted by default."""


def _result(url: str | None = CDN, request_id: str = "req-1") -> JobResult:
    from sora2_api.models import RequestResult

    body = {"request_id": request_id, "status": "completed", "output": {"video": url}}
    return JobResult(
        request_id,
        "completed",
        url,
        {"video": url},
        None,
        None,
        RequestResult.from_dict(body),
        files=(OutputFile(url=url, kind="video", field="video"),) if url else (),
    )


def _video(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, headers={"Content-Type": "video/mp4"}, content=VIDEO)


class _Broken(httpx.SyncByteStream, httpx.AsyncByteStream):
    """A body that yields one chunk and then fails with ``error``."""

    def __init__(self, error: BaseException) -> None:
        self.error = error

    def __iter__(self) -> Iterator[bytes]:
        yield VIDEO[:100]
        raise self.error

    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield VIDEO[:100]
        raise self.error


def _leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.suffix == ".part")


class TestSaving:
    async def test_emulator_video_saved_and_journaled(
        self, api: Api, clock: FakeClock, tmp_path: Path, journal_path: Path
    ) -> None:
        """A downloaded video lands complete at the target and its path is journaled."""
        submission = await api.submit("x")
        clock.advance(1000)
        (path,) = await api.download(submission.request_id, tmp_path / "videos" / "x.mp4")
        assert (tmp_path / "videos" / "x.mp4") == path
        assert path.read_bytes()[4:8] == b"ftyp"
        record = Journal(journal_path).get(submission.request_id)
        assert record is not None and str(path) == record.output_path
        assert _leftovers(path.parent) == []

    async def test_directory_target(self, make_api: Factory, tmp_path: Path) -> None:
        """A directory as target gets a file named after the job."""
        script = Script()
        script.files[CDN] = _video
        api = make_api(handler=script)
        (path,) = await api.download(_result(), tmp_path)
        assert tmp_path / "req-1.mp4" == path
        assert path.read_bytes() == VIDEO

    @pytest.mark.parametrize("spelling", ["dl/", "new/dl/"])
    async def test_a_trailing_separator_names_a_new_directory(
        self, make_api: Factory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, spelling: str
    ) -> None:
        """``download(result, "dl/")`` creates the folder and saves inside it, named after the
        job; no file called ``dl`` is written."""
        monkeypatch.chdir(tmp_path)
        script = Script()
        script.files[CDN] = _video
        api = make_api(handler=script)
        (path,) = await api.download(_result(), spelling)
        assert tmp_path / spelling / "req-1.mp4" == path
        assert VIDEO == path.read_bytes()

    async def test_url_string(self, make_api: Factory, tmp_path: Path) -> None:
        """A bare https URL downloads too."""
        script = Script()
        script.files[CDN] = _video
        api = make_api(handler=script)
        assert (await api.download(CDN, tmp_path / "v.mp4"))[0].read_bytes() == VIDEO

    async def test_result_without_video(self, make_api: Factory, tmp_path: Path) -> None:
        """A result that has no video yet is a DownloadError, not an AttributeError."""
        script = Script().on(
            "result", json_response(200, {"request_id": "r", "status": "in_queue"})
        )
        api = make_api(handler=script)
        with pytest.raises(DownloadError) as caught:
            await api.download("r", tmp_path / "v.mp4")
        assert caught.value.request_id == "r"
        assert not (tmp_path / "v.mp4").exists()


class TestAtomicity:
    @pytest.mark.parametrize(
        "error", [httpx.ReadError("reset"), KeyboardInterrupt()], ids=["read-error", "ctrl-c"]
    )
    async def test_failure_mid_stream_leaves_nothing(
        self, make_api: Factory, tmp_path: Path, error: BaseException
    ) -> None:
        """A stream that breaks leaves the old file untouched and no temporary file behind."""
        target = tmp_path / "v.mp4"
        target.write_bytes(b"previous video")
        script = Script()
        script.files[CDN] = lambda r: httpx.Response(
            200, headers={"Content-Type": "video/mp4"}, stream=_Broken(error)
        )
        api = make_api(handler=script, max_retries=1)
        with pytest.raises((DownloadError, KeyboardInterrupt)):
            await api.download(_result(), target)
        assert target.read_bytes() == b"previous video"
        assert _leftovers(tmp_path) == []
        expected = 1 if isinstance(error, KeyboardInterrupt) else 2  # a read error is retried
        assert expected == len(script.requests)

    async def test_short_body_is_refused(self, make_api: Factory, tmp_path: Path) -> None:
        """Fewer bytes than Content-Length announced: refused, retried, nothing saved."""
        script = Script()
        script.files[CDN] = lambda r: httpx.Response(
            200,
            headers={"Content-Type": "video/mp4", "Content-Length": str(len(VIDEO) * 2)},
            content=VIDEO,
        )
        api = make_api(handler=script, max_retries=1)
        with pytest.raises(DownloadError, match="incomplete"):
            await api.download(_result(), tmp_path / "v.mp4")
        assert not (tmp_path / "v.mp4").exists()
        assert _leftovers(tmp_path) == []
        assert len(script.requests) == 2

    async def test_server_error_then_success(self, make_api: Factory, tmp_path: Path) -> None:
        """A 503 from the file host is retried; the second answer is saved."""
        answers = [httpx.Response(503), None]

        def handler(request: httpx.Request) -> httpx.Response:
            first = answers.pop(0)
            return first if first is not None else _video(request)

        script = Script()
        script.files[CDN] = handler
        api = make_api(handler=script)
        assert (await api.download(_result(), tmp_path / "v.mp4"))[0].read_bytes() == VIDEO


class TestChecks:
    async def test_size_cap_from_content_length(self, make_api: Factory, tmp_path: Path) -> None:
        """A Content-Length over the cap is refused before reading the body."""
        script = Script()
        script.files[CDN] = _video
        api = make_api(handler=script)
        with pytest.raises(DownloadError, match="cap"):
            await api.download(_result(), tmp_path / "v.mp4", max_bytes=len(VIDEO) - 1)
        assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []
        assert not (tmp_path / "v.mp4").exists()

    async def test_size_cap_while_streaming(self, make_api: Factory, tmp_path: Path) -> None:
        """A body without Content-Length is cut off at the cap; the client default applies."""

        def unannounced(request: httpx.Request) -> httpx.Response:
            return httpx.Response(
                200, headers={"Content-Type": "video/mp4"}, stream=httpx.ByteStream(VIDEO)
            )

        script = Script()
        script.files[CDN] = unannounced
        api = make_api(handler=script, max_download_bytes=1000)
        with pytest.raises(DownloadError, match="cap"):
            await api.download(_result(), tmp_path / "v.mp4")
        assert not (tmp_path / "v.mp4").exists()
        assert _leftovers(tmp_path) == []

    @pytest.mark.parametrize("content_type", ["text/html", "application/json", ""])
    async def test_content_type(self, make_api: Factory, tmp_path: Path, content_type: str) -> None:
        """Only video/* or application/octet-stream is saved."""
        script = Script()
        script.files[CDN] = lambda r: httpx.Response(
            200, headers={"Content-Type": content_type}, content=b"<html>login</html>"
        )
        api = make_api(handler=script)
        with pytest.raises(DownloadError, match="content type"):
            await api.download(_result(), tmp_path / "v.mp4")

    async def test_octet_stream_is_accepted(self, make_api: Factory, tmp_path: Path) -> None:
        """application/octet-stream (common on object stores) is accepted."""
        script = Script()
        script.files[CDN] = lambda r: httpx.Response(
            200, headers={"Content-Type": "application/octet-stream"}, content=VIDEO
        )
        api = make_api(handler=script)
        assert (await api.download(_result(), tmp_path / "v.mp4"))[0].read_bytes() == VIDEO

    @pytest.mark.parametrize(
        "url", ["http://cdn.example/v.mp4", "ftp://cdn.example/v.mp4", "file:///etc/passwd"]
    )
    async def test_insecure_urls_are_refused(
        self, make_api: Factory, tmp_path: Path, url: str
    ) -> None:
        """Anything but https (or http from the API's own origin) is refused before any request."""
        script = Script()
        api = make_api(handler=script)
        with pytest.raises(DownloadError, match="refusing"):
            await api.download(_result(url), tmp_path / "v.mp4")
        assert script.requests == []

    async def test_redirect_to_plain_http_is_refused(
        self, make_api: Factory, tmp_path: Path
    ) -> None:
        """A redirect is checked like the first URL: an http hop is never requested."""
        script = Script()
        script.files[CDN] = httpx.Response(302, headers={"Location": "http://evil.example/v.mp4"})
        api = make_api(handler=script)
        with pytest.raises(DownloadError, match="refusing"):
            await api.download(_result(), tmp_path / "v.mp4")
        assert [str(r.url) for r in script.requests] == [CDN]

    async def test_https_redirect_is_followed(self, make_api: Factory, tmp_path: Path) -> None:
        """A pre-signed storage redirect over https is followed."""
        signed = "https://storage.example/bucket/v.mp4?sig=abc"
        script = Script()
        script.files[CDN] = httpx.Response(307, headers={"Location": signed})
        script.files[signed] = _video
        api = make_api(handler=script, trusted_hosts=["storage.example"])
        assert (await api.download(_result(), tmp_path / "v.mp4"))[0].read_bytes() == VIDEO


class TestNoTokenLeaves:
    async def test_token_only_to_the_api(self, make_api: Factory, tmp_path: Path) -> None:
        """The API gets the bearer token; the file host and its redirect get no Authorization."""
        signed = "https://storage.example/v.mp4"
        script = Script()
        script.on("submit", json_response(200, submit_body("req-1")))
        script.on(
            "result",
            json_response(
                200, {"request_id": "req-1", "status": "completed", "output": {"video": CDN}}
            ),
        )
        script.files[CDN] = httpx.Response(302, headers={"Location": signed})
        script.files[signed] = _video
        api = make_api(handler=script, trusted_hosts=["storage.example"])
        await api.submit("x")
        await api.download("req-1", tmp_path / "v.mp4")
        by_host = {(r.url.host, "authorization" in r.headers) for r in script.requests}
        assert {
            ("localhost", True),
            ("cdn.runcomfy.net", False),
            ("storage.example", False),
        } == by_host
        api_auth = {
            r.headers["authorization"] for r in script.requests if r.url.host == "localhost"
        }
        assert {f"Bearer {TOKEN}"} == api_auth

    async def test_no_token_even_on_the_api_host(
        self, make_api: Factory, emulator: Emulator, clock: FakeClock, tmp_path: Path
    ) -> None:
        """Output URLs are fetched without the token even when served by the API's own host."""
        seen: list[httpx.Request] = []
        inner = make_api(emulator)
        transport = inner.client._shared.transport

        if inner.is_async:

            class Spy(httpx.AsyncBaseTransport):
                async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
                    seen.append(request)
                    assert isinstance(transport, httpx.AsyncBaseTransport)
                    return await transport.handle_async_request(request)

            api = make_api(transport=Spy())
        else:

            class SyncSpy(httpx.BaseTransport):
                def handle_request(self, request: httpx.Request) -> httpx.Response:
                    seen.append(request)
                    assert isinstance(transport, httpx.BaseTransport)
                    return transport.handle_request(request)

            api = make_api(transport=SyncSpy())
        submission = await api.submit("x")
        clock.advance(1000)
        await api.download(submission.request_id, tmp_path / "v.mp4")
        video = [r for r in seen if "/outputs/" in r.url.path]
        assert len(video) == 1 and "authorization" not in video[0].headers
        assert all("authorization" in r.headers for r in seen if r not in video)


class TestStalePartFiles:
    def test_a_completed_download_sweeps_part_files_a_killed_process_left(
        self, tmp_path: Path
    ) -> None:
        """Part files of the same target untouched since before the download began are removed."""
        import os

        from sora2._download import PartFile

        target = tmp_path / "video.mp4"
        stale = tmp_path / ".video.mp4.0123456789ab.part"
        stale.write_bytes(b"half a video")
        os.utime(stale, (1_000_000_000, 1_000_000_000))
        other = tmp_path / ".other.mp4.0123456789ab.part"
        other.write_bytes(b"another target")
        os.utime(other, (1_000_000_000, 1_000_000_000))
        with PartFile(target, max_bytes=100, request_id="r") as part:
            part.finish(b"data", None, httpx.Response(200))
        assert b"data" == target.read_bytes()
        assert [".other.mp4.0123456789ab.part"] == _leftovers(tmp_path)
