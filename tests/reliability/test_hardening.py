"""The defects the fuzzing and the soak found, each pinned by one direct test."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path

import anyio
import httpx
import pytest
import stamina

from sora2 import (
    APIResponseValidationError,
    AsyncClient,
    Client,
    DownloadError,
    InvalidInputError,
    SubmissionUnknownError,
)
from sora2._inputs import validate_input
from sora2._spec import operation
from sora2.emulator import SyncASGITransport, create_app, serve

from .helpers import API_URL, TOKEN, FakeClock, leftovers, submit_answer

STATUS_OK = {"request_id": "job-1", "status": "in_queue", "queue_position": 0}
CUT_SHORT = b'{"request_id": "job-1", "sta'


@pytest.fixture(autouse=True)
def _no_backoff() -> Iterator[None]:
    with stamina.set_testing(True, attempts=100, cap=True):
        yield


class TestUnsendableInput:
    @pytest.mark.parametrize("prompt", ["\ud800", "a lone \udfff surrogate"])
    def test_lone_surrogate_is_invalid_input_and_nothing_is_sent(self, prompt: str) -> None:
        """A prompt that cannot be encoded as UTF-8 is refused before sending, naming the
        field (it used to fail inside httpx as a "no response" validation error)."""
        sent: list[httpx.Request] = []

        def handler(request: httpx.Request) -> httpx.Response:
            sent.append(request)
            return httpx.Response(200, json=submit_answer("job-1"))

        with (
            Client(
                TOKEN, base_url=API_URL, transport=httpx.MockTransport(handler), journal=False
            ) as client,
            pytest.raises(InvalidInputError) as caught,
        ):
            client.submit(prompt)

        async def run() -> None:
            async with AsyncClient(
                TOKEN, base_url=API_URL, transport=httpx.MockTransport(handler), journal=False
            ) as client:
                with pytest.raises(InvalidInputError):
                    await client.submit(prompt)

        anyio.run(run)
        assert "prompt" == caught.value.field
        assert [] == sent

    @pytest.mark.parametrize("value", [float("nan"), float("inf"), object(), b"bytes"])
    def test_extra_field_that_is_not_json_is_invalid_input(self, value: object) -> None:
        """An extra field (the spec allows them) that JSON cannot carry is named and refused."""
        with pytest.raises(InvalidInputError) as caught:
            validate_input({"prompt": "x", "extra": value})
        assert "extra" == caught.value.field


class TestCorruptDownload:
    @pytest.mark.parametrize("encoding", ["gzip", "deflate"])
    def test_undecodable_body_is_a_download_error(self, tmp_path: Path, encoding: str) -> None:
        """A body that its Content-Encoding cannot decode is retried, then a DownloadError with
        nothing at the target (it used to escape as httpx.DecodingError)."""
        calls: list[httpx.Request] = []

        def handler(request: httpx.Request) -> httpx.Response:
            calls.append(request)
            headers = {"Content-Type": "video/mp4", "Content-Encoding": encoding}
            return httpx.Response(200, headers=headers, stream=httpx.ByteStream(b"not " * 50))

        target = tmp_path / "v.mp4"
        with Client(
            TOKEN, base_url=API_URL, transport=httpx.MockTransport(handler), journal=False
        ) as client:
            with pytest.raises(DownloadError):
                client.download("https://cdn.runcomfy.net/v.mp4", target)
            assert client.max_retries + 1 == len(calls)
        assert not target.exists()
        assert [] == leftovers(tmp_path)


class TestGarbledAnswers:
    def test_status_cut_short_is_retried(self) -> None:
        """A status answer that is not JSON (cut short in transit) is retried like a 502."""
        answers = [httpx.Response(200, content=CUT_SHORT), httpx.Response(200, json=STATUS_OK)]
        seen: list[httpx.Request] = []

        def handler(request: httpx.Request) -> httpx.Response:
            seen.append(request)
            return answers.pop(0)

        with Client(
            TOKEN, base_url=API_URL, transport=httpx.MockTransport(handler), journal=False
        ) as client:
            assert "in_queue" == client.status("job-1").state
        assert 2 == len(seen)

    def test_wrong_shape_is_not_retried(self) -> None:
        """Valid JSON of the wrong shape would come back the same: raised after one request."""
        seen: list[httpx.Request] = []

        def handler(request: httpx.Request) -> httpx.Response:
            seen.append(request)
            return httpx.Response(200, json={"request_id": "job-1"})

        with (
            Client(
                TOKEN, base_url=API_URL, transport=httpx.MockTransport(handler), journal=False
            ) as client,
            pytest.raises(APIResponseValidationError),
        ):
            client.status("job-1")
        assert 1 == len(seen)

    def test_submit_cut_short_is_never_retried(self) -> None:
        """A garbled submit answer may hide a created job: it is never sent again."""
        seen: list[httpx.Request] = []

        def handler(request: httpx.Request) -> httpx.Response:
            seen.append(request)
            return httpx.Response(200, content=b"<html>oops</html>")

        with (
            Client(
                TOKEN, base_url=API_URL, transport=httpx.MockTransport(handler), journal=False
            ) as client,
            pytest.raises(SubmissionUnknownError),
        ):
            client.submit("a kite")
        assert 1 == sum(r.method == "POST" for r in seen)  # the price (a GET) is asked first

    def test_generate_survives_truncated_polls_and_results(self, tmp_path: Path) -> None:
        """Against the emulator truncating every other status answer and the first result,
        generate() still saves the video, and submits once."""
        clock = FakeClock()
        app = create_app(
            clock=clock.monotonic, faults="status:truncate@every=2,result:truncate@first=1"
        )
        with Client(
            TOKEN,
            base_url="http://localhost",
            transport=SyncASGITransport(app),
            journal=False,
            _clock=clock,
        ) as client:
            (saved,) = client.generate("a kite over the dunes", out=tmp_path / "kite.mp4")
        assert saved.stat().st_size > 0
        assert {"a kite over the dunes": 1} == dict(app.stats.submissions)
        assert app.stats.faults["truncate"] >= 2


class TestClientGone:
    def test_a_client_that_leaves_before_its_body_is_read_is_no_server_error(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        """A submit abandoned (timed out) before the emulator read its body makes no job, no
        5xx in the counters and no error log (it used to count a 500 nobody received)."""
        app = create_app(faults="submit:slow=0.5")
        with serve(app) as url, httpx.Client(base_url=url, timeout=0.05) as http:
            with pytest.raises(httpx.ReadTimeout):
                http.post(
                    operation("submit").path,
                    json={"prompt": "a kite"},
                    headers={"Authorization": f"Bearer {TOKEN}"},
                )
            deadline = time.monotonic() + 10
            while not app.stats.statuses and time.monotonic() < deadline:
                time.sleep(0.01)
        assert {499: 1} == dict(app.stats.statuses)
        assert {} == dict(app.stats.submissions)
        assert [] == [r for r in caplog.records if r.levelno >= logging.ERROR]
