"""ContractTransport and AsyncContractTransport: checking live traffic without changing it."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from contract_examples import TOKEN, request_body_examples, status_required_pointers

import sora2
from sora2._spec import operation, server_url
from sora2.contract import (
    AsyncContractTransport,
    ContractRecorder,
    ContractTransport,
    check_exchange,
    read_exchanges,
    wrap,
)

STATUS_PATH = operation("status").url_path(request_id="abc")
SUBMIT_PATH = operation("submit").path
GOOD_STATUS = {"request_id": "abc", "status": "in_queue", "queue_position": 0}


class Handler:
    """A MockTransport handler that answers ``body`` and remembers what it was sent."""

    def __init__(self, body: Any = None, *, status: int = 200, gzipped: bool = False) -> None:
        self.body = GOOD_STATUS if body is None else body
        self.status = status
        self.gzipped = gzipped
        self.seen: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(request)
        content = json.dumps(self.body).encode()
        headers = {"content-type": "application/json"}
        if self.gzipped:
            content = gzip.compress(content)
            headers["content-encoding"] = "gzip"
        return httpx.Response(self.status, headers=headers, content=content)


def client(transport: httpx.BaseTransport) -> httpx.Client:
    return httpx.Client(
        transport=transport, base_url=server_url(), headers={"authorization": f"Bearer {TOKEN}"}
    )


class TestRaiseMode:
    def test_clean_exchange_passes_through(self) -> None:
        """A conforming exchange returns the service's response unchanged."""
        with client(ContractTransport(httpx.MockTransport(Handler()))) as http:
            response = http.get(STATUS_PATH)
        assert response.json() == GOOD_STATUS

    def test_bad_response_raises_with_its_violations(self) -> None:
        """A response that breaks the spec raises ContractViolationError listing each problem."""
        handler = Handler({"request_id": "abc"})
        with (
            client(ContractTransport(httpx.MockTransport(handler))) as http,
            pytest.raises(sora2.ContractViolationError) as caught,
        ):
            http.get(STATUS_PATH)
        assert [(v.pointer, v.rule) for v in caught.value.violations] == [
            ("/body/status", "required")
        ]
        assert "/body/status" in str(caught.value)

    def test_bad_request_is_not_sent(self) -> None:
        """A request that breaks the spec raises before it reaches the service (no paid job)."""
        handler = Handler()
        with (
            client(ContractTransport(httpx.MockTransport(handler))) as http,
            pytest.raises(sora2.ContractViolationError) as caught,
        ):
            http.post(SUBMIT_PATH, json={"prompt": ""})
        assert handler.seen == []
        assert {"/body/prompt"} == {v.pointer for v in caught.value.violations}

    def test_raise_mode_keeps_only_broken_exchanges(self) -> None:
        """A long-lived raising transport does not accumulate every clean exchange."""
        transport = ContractTransport(httpx.MockTransport(Handler()))
        with client(transport) as http:
            for _ in range(3):
                http.get(STATUS_PATH)
        assert transport.exchanges == []
        assert transport.violations == []

    def test_token_never_appears_in_the_error(self) -> None:
        """The error's message and violations do not contain the API token."""
        transport = ContractTransport(httpx.MockTransport(Handler()))
        with (
            httpx.Client(transport=transport, base_url=server_url()) as http,
            pytest.raises(sora2.ContractViolationError) as caught,
        ):
            http.get(STATUS_PATH, headers={"authorization": f"Token {TOKEN}"})
        assert TOKEN not in str(caught.value)
        assert all(TOKEN not in repr(v) for v in caught.value.violations)


class TestRecordMode:
    def test_records_instead_of_raising(self) -> None:
        """Record mode sends everything and collects violations and exchanges."""
        transport = ContractTransport(httpx.MockTransport(Handler({"status": 5})), mode="record")
        with client(transport) as http:
            response = http.get(STATUS_PATH)
        assert response.status_code == 200
        expected = {(p, "required") for p in status_required_pointers() - {"/body/status"}}
        assert expected | {("/body/status", "type")} == {
            (v.pointer, v.rule) for v in transport.violations
        }
        assert [e.status for e in transport.exchanges] == [200]

    def test_bad_request_is_sent_and_recorded(self) -> None:
        """In record mode a bad request still goes out, and both sides are recorded."""
        handler = Handler({"error_code": 422001, "message": "Validation error."}, status=422)
        transport = ContractTransport(httpx.MockTransport(handler), mode="record")
        with client(transport) as http:
            http.post(SUBMIT_PATH, json={"size": "x"})
        assert len(handler.seen) == 1
        assert ("/body/prompt", "required") in {(v.pointer, v.rule) for v in transport.violations}
        assert [e.status for e in transport.exchanges] == [422]

    def test_recorder_shares_one_list_between_transports(self) -> None:
        """Transports made by one recorder report into the same lists."""
        recorder = ContractRecorder()
        for _ in range(2):
            with client(recorder.transport(httpx.MockTransport(Handler({})))) as http:
                http.get(STATUS_PATH)
        assert len(recorder.exchanges) == 2
        assert 2 * len(status_required_pointers()) == len(recorder.violations)

    def test_clear_and_assert_clean(self) -> None:
        """assert_clean raises while violations are recorded and passes after clear()."""
        recorder = ContractRecorder()
        with client(recorder.transport(httpx.MockTransport(Handler({})))) as http:
            http.get(STATUS_PATH)
        with pytest.raises(sora2.ContractViolationError):
            recorder.assert_clean()
        recorder.clear()
        recorder.assert_clean()

    def test_invalid_mode_is_refused(self) -> None:
        """Only "raise" and "record" are modes."""
        with pytest.raises(ValueError, match="mode"):
            ContractTransport(httpx.MockTransport(Handler()), mode="warn")  # type: ignore[arg-type]


class TestTransparency:
    def test_request_body_reaches_the_service_intact(self) -> None:
        """The checked request's bytes are exactly what the inner transport receives."""
        handler = Handler(
            {
                "request_id": "a",
                "status_url": "https://h/s",
                "result_url": "https://h/r",
                "cancel_url": "https://h/c",
            }
        )
        body = next(iter(request_body_examples().values()))
        with client(ContractTransport(httpx.MockTransport(handler))) as http:
            http.post(SUBMIT_PATH, json=body)
        assert json.loads(handler.seen[0].content) == body

    def test_encoded_response_is_checked_decoded_and_returned_raw(self) -> None:
        """A gzip body is checked after decoding, and the client still gets the raw stream."""
        transport = ContractTransport(httpx.MockTransport(Handler(gzipped=True)))
        with client(transport) as http:
            with http.stream("GET", STATUS_PATH) as response:
                raw = b"".join(response.iter_raw())
            assert json.loads(gzip.decompress(raw)) == GOOD_STATUS
            assert http.get(STATUS_PATH).json() == GOOD_STATUS

    def test_streaming_consumer_reads_the_whole_body(self) -> None:
        """``stream=True`` consumers can iterate the checked body chunk by chunk."""
        with (
            client(ContractTransport(httpx.MockTransport(Handler()))) as http,
            http.stream("GET", STATUS_PATH) as response,
        ):
            assert json.loads(b"".join(response.iter_bytes())) == GOOD_STATUS

    def test_non_api_response_is_handed_over_untouched(self) -> None:
        """A download is not buffered or checked: the inner response object comes back as is."""

        def chunks() -> Iterator[bytes]:
            yield b"\x00" * 10

        inner_response = httpx.Response(200, content=chunks())
        transport = ContractTransport(httpx.MockTransport(lambda request: inner_response))
        request = httpx.Request("GET", "https://cdn.example/outputs/abc/video.mp4")
        assert transport.handle_request(request) is inner_response
        assert transport.exchanges == []

    def test_close_closes_the_inner_transport(self) -> None:
        """Closing the checked transport closes the one it wraps."""
        closed: list[bool] = []

        class Inner(httpx.BaseTransport):
            def handle_request(self, request: httpx.Request) -> httpx.Response:
                raise AssertionError("not called")

            def close(self) -> None:
                closed.append(True)

        ContractTransport(Inner()).close()
        assert closed == [True]


class TestLog:
    def test_log_is_redacted_jsonl_that_checks_the_same(self, tmp_path: Path) -> None:
        """The JSONL log has no token and re-checking it finds the same violations."""
        log = tmp_path / "exchanges.jsonl"
        transport = ContractTransport(httpx.MockTransport(Handler({})), mode="record", log=log)
        with client(transport) as http:
            http.get(STATUS_PATH)
            http.post(SUBMIT_PATH, json={"prompt": ""})
        text = log.read_text(encoding="utf-8")
        assert TOKEN not in text
        assert "Bearer <redacted>" in text
        exchanges = read_exchanges(log)
        assert len(exchanges) == 2
        rechecked = [v for e in exchanges for v in check_exchange(e) or []]
        assert transport.violations == rechecked


class TestWrap:
    def test_sync_transport_gets_a_sync_wrapper(self) -> None:
        """An HTTPTransport is wrapped by a ContractTransport only."""
        wrapped = wrap(httpx.HTTPTransport())
        assert isinstance(wrapped, ContractTransport)
        assert not isinstance(wrapped, AsyncContractTransport)

    def test_async_transport_gets_an_async_wrapper(self) -> None:
        """An ASGITransport is wrapped by an AsyncContractTransport only."""

        async def app(scope: Any, receive: Any, send: Any) -> None:
            raise AssertionError("not called")

        wrapped = wrap(httpx.ASGITransport(app=app))
        assert isinstance(wrapped, AsyncContractTransport)
        assert not isinstance(wrapped, ContractTransport)

    def test_dual_transport_gets_both(self) -> None:
        """A MockTransport, both sync and async, gets a wrapper usable by both clients."""
        wrapped = wrap(httpx.MockTransport(Handler()))
        assert isinstance(wrapped, ContractTransport)
        assert isinstance(wrapped, AsyncContractTransport)

    def test_anything_else_is_refused(self) -> None:
        """wrap() refuses an object that is no httpx transport."""
        with pytest.raises(TypeError):
            wrap(object())  # type: ignore[call-overload]


class TestAsync:
    @pytest.mark.anyio
    async def test_async_record_mode(self) -> None:
        """The async transport checks and records like the sync one."""
        transport = AsyncContractTransport(httpx.MockTransport(Handler({})), mode="record")
        async with httpx.AsyncClient(
            transport=transport,
            base_url=server_url(),
            headers={"authorization": f"Bearer {TOKEN}"},
        ) as http:
            response = await http.get(STATUS_PATH)
        assert response.json() == {}
        assert status_required_pointers() == {v.pointer for v in transport.violations}

    @pytest.mark.anyio
    async def test_async_raise_mode(self) -> None:
        """The async transport raises on a violation in raise mode."""
        transport = wrap(httpx.MockTransport(Handler({})))
        async with httpx.AsyncClient(transport=transport, base_url=server_url()) as http:
            with pytest.raises(sora2.ContractViolationError):
                await http.get(STATUS_PATH, headers={"authorization": f"Bearer {TOKEN}"})

    @pytest.mark.anyio
    async def test_async_streaming_and_encoding(self) -> None:
        """Async consumers get the raw bytes back after the decoded body was checked."""
        transport = wrap(httpx.MockTransport(Handler(gzipped=True)))
        async with (
            httpx.AsyncClient(
                transport=transport,
                base_url=server_url(),
                headers={"authorization": f"Bearer {TOKEN}"},
            ) as http,
            http.stream("GET", STATUS_PATH) as response,
        ):
            raw = b"".join([part async for part in response.aiter_raw()])
        assert json.loads(gzip.decompress(raw)) == GOOD_STATUS
