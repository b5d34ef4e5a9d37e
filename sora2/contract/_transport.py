"""httpx transports that check every API exchange passing through them against the spec.

A checked response is read in full (its raw, still-encoded bytes) and handed back as a fresh,
unread response with the same status, headers and bytes, so ``stream=True`` consumers,
``iter_raw`` and content decoding all behave as without the transport. Requests that are not
API calls (file downloads, CDNs) pass through untouched and unbuffered.
"""

from __future__ import annotations

import os
import threading
from typing import Literal, Protocol, TypedDict, Unpack, overload

import httpx

from .._exceptions import ContractViolationError
from ._contract import Contract, Match, load_contract, split_target
from ._exchanges import Exchange, append_jsonl, redact_headers
from ._violations import Violation

__all__ = [
    "AsyncContractTransport",
    "ContractRecorder",
    "ContractTransport",
    "Mode",
    "TransportOptions",
    "wrap",
]

Mode = Literal["raise", "record"]
"""What a checked transport does with a violation: raise ``ContractViolationError`` (a bad
request is then not sent), or record it and carry on."""
_MODES = ("raise", "record")


class TransportOptions(TypedDict, total=False):
    """The settings of every checked transport (``ContractTransport``, its async twin, ``wrap``),
    each one optional, documented here once."""

    mode: Mode
    """``"raise"`` (the default): raise ``sora2.ContractViolationError`` on a violation (a bad
    request is not sent). ``"record"``: send everything, collect ``violations`` and
    ``exchanges``."""
    contract: Contract | None
    """The compiled spec; the packaged one by default."""
    log: str | os.PathLike[str] | None
    """A JSONL file to append every checked exchange to."""
    recorder: ContractRecorder | None
    """Share a ``ContractRecorder`` between transports (the pytest fixture does)."""


class ContractRecorder:
    """Collects the exchanges and violations of any number of checked transports.

    Args:
        contract: The compiled spec; the packaged one by default.
        log: A JSONL file every checked exchange is appended to (see ``read_exchanges``).
        keep_exchanges: Keep every exchange in ``exchanges`` (else only those with violations).
        label: Written as ``test`` on each logged line (the pytest plugin passes the test id).
    """

    def __init__(
        self,
        *,
        contract: Contract | None = None,
        log: str | os.PathLike[str] | None = None,
        keep_exchanges: bool = True,
        label: str | None = None,
    ) -> None:
        self.contract = contract or load_contract()
        self.log = log
        self.keep_exchanges = keep_exchanges
        self.label = label
        self.exchanges: list[Exchange] = []
        self.violations: list[Violation] = []
        self._lock = threading.Lock()

    def transport(self, inner: httpx.BaseTransport, *, mode: Mode = "record") -> ContractTransport:
        """A sync transport over ``inner`` recording here (and raising too if mode="raise")."""
        return ContractTransport(inner, mode=mode, recorder=self)

    def async_transport(
        self, inner: httpx.AsyncBaseTransport, *, mode: Mode = "record"
    ) -> AsyncContractTransport:
        """An async transport over ``inner`` recording here."""
        return AsyncContractTransport(inner, mode=mode, recorder=self)

    @overload
    def wrap(self, inner: _SyncAndAsync, *, mode: Mode = ...) -> _DualContractTransport: ...

    @overload
    def wrap(
        self, inner: httpx.AsyncBaseTransport, *, mode: Mode = ...
    ) -> AsyncContractTransport: ...

    @overload
    def wrap(self, inner: httpx.BaseTransport, *, mode: Mode = ...) -> ContractTransport: ...

    def wrap(
        self,
        inner: httpx.BaseTransport | httpx.AsyncBaseTransport | _SyncAndAsync,
        *,
        mode: Mode = "record",
    ) -> ContractTransport | AsyncContractTransport:
        """``transport`` or ``async_transport``, whichever ``inner`` supports (both if both)."""
        return wrap(inner, mode=mode, recorder=self)

    def record(self, exchange: Exchange) -> None:
        """Keep one checked exchange (and its violations); append it to the log if any."""
        if self.label is not None and exchange.test is None:
            exchange.test = self.label
        with self._lock:
            self.violations.extend(exchange.violations)
            if self.keep_exchanges or exchange.violations:
                self.exchanges.append(exchange)
        if self.log is not None:
            append_jsonl(self.log, exchange)

    def clear(self) -> None:
        """Forget everything recorded so far."""
        with self._lock:
            self.exchanges.clear()
            self.violations.clear()

    def assert_clean(self) -> None:
        """Raise ContractViolationError listing every violation recorded so far."""
        broken = [exchange for exchange in self.exchanges if exchange.violations]
        if broken:
            raise ContractViolationError(summary(broken), violations=self.violations)


def summary(exchanges: list[Exchange]) -> str:
    """One line naming each broken exchange and its first problems (never a header value)."""
    parts = []
    for exchange in exchanges:
        path, _ = split_target(httpx.URL(exchange.url))
        status = f" -> {exchange.status}" if exchange.status is not None else ""
        problems = "; ".join(str(v) for v in exchange.violations[:3])
        more = len(exchange.violations) - 3
        extra = f"; and {more} more" if more > 0 else ""
        parts.append(f"{exchange.method} {path}{status}: {problems}{extra}")
    count = sum(len(exchange.violations) for exchange in exchanges)
    noun = "violation" if count == 1 else "violations"
    return f"{count} contract {noun}: " + " | ".join(parts)


def _decoded(status: int, headers: httpx.Headers, raw: bytes) -> bytes:
    if "content-encoding" not in headers:
        return raw
    probe = httpx.Response(status, headers=headers, stream=httpx.ByteStream(raw))
    return probe.read()


class _Checking:
    """What the sync and async transports share: check, record, raise."""

    def __init__(
        self,
        *,
        mode: Mode = "raise",
        contract: Contract | None = None,
        log: str | os.PathLike[str] | None = None,
        recorder: ContractRecorder | None = None,
    ) -> None:
        if mode not in _MODES:
            raise ValueError(f"mode must be one of {_MODES}, not {mode!r}")
        self.mode: Mode = mode
        self.recorder = recorder or ContractRecorder(
            contract=contract, log=log, keep_exchanges=mode == "record"
        )
        self.contract = self.recorder.contract

    @property
    def violations(self) -> list[Violation]:
        """Every violation seen so far by this transport's recorder."""
        return self.recorder.violations

    @property
    def exchanges(self) -> list[Exchange]:
        """Exchanges seen so far (in raise mode, only those with violations)."""
        return self.recorder.exchanges

    def _operation(self, request: httpx.Request) -> Match | None:
        """The spec's operation ``request`` calls, or None for a request that is no API call (a
        download), which passes unchecked. An unknown API path is recorded (raised) here."""
        found = self.contract.match(request.method, split_target(request.url)[0])
        if found is None:
            violations = self.contract.unmatched_violations(request.method, request.url)
            if violations:
                self._finish(request, violations)
        return found

    def _request_violations(self, request: httpx.Request, found: Match) -> list[Violation]:
        """Check the (read) request; in raise mode a bad one raises here, before it is sent."""
        violations = self.contract.request_violations(found, request, split_target(request.url)[1])
        if violations and self.mode == "raise":
            self._finish(request, violations)
        return violations

    def _checked(
        self,
        request: httpx.Request,
        found: Match,
        violations: list[Violation],
        response: httpx.Response,
        raw: bytes,
    ) -> httpx.Response:
        """Check the answer (``raw``: its body as sent), record the exchange, and hand back an
        unread copy of the answer."""
        content = _decoded(response.status_code, response.headers, raw)
        violations = violations + self.contract.response_parts_violations(
            found, response.status_code, response.headers, content
        )
        self._finish(request, violations, response, content)
        return _fresh(request, response, raw)

    def _finish(
        self,
        request: httpx.Request,
        violations: list[Violation],
        response: httpx.Response | None = None,
        content: bytes | None = None,
    ) -> None:
        recorder = self.recorder
        if not (violations or recorder.keep_exchanges or recorder.log is not None):
            return
        exchange = Exchange(
            method=request.method,
            url=str(request.url),
            request_headers=redact_headers(request.headers.multi_items()),
            request_body=_request_body(request),
            violations=violations,
        )
        if response is not None:
            exchange.status = response.status_code
            exchange.response_headers = redact_headers(response.headers.multi_items())
            exchange.response_body = content
        recorder.record(exchange)
        if violations and self.mode == "raise":
            raise ContractViolationError(summary([exchange]), violations=violations)


def _request_body(request: httpx.Request) -> bytes:
    try:
        return request.content
    except httpx.RequestNotRead:
        return b""


def _read_raw(response: httpx.Response) -> bytes:
    """The body as sent (still encoded); iterating the stream works even if httpx pre-read it."""
    stream = response.stream
    if not isinstance(stream, httpx.SyncByteStream):
        raise TypeError(
            "ContractTransport needs a sync inner transport; use AsyncContractTransport"
        )
    return b"".join(stream)


async def _aread_raw(response: httpx.Response) -> bytes:
    stream = response.stream
    if not isinstance(stream, httpx.AsyncByteStream):
        raise TypeError("AsyncContractTransport needs an async inner transport")
    return b"".join([part async for part in stream])


def _fresh(request: httpx.Request, response: httpx.Response, raw: bytes) -> httpx.Response:
    """An unread response with the same status, headers and raw bytes as ``response``."""
    return httpx.Response(
        status_code=response.status_code,
        headers=response.headers,
        stream=httpx.ByteStream(raw),
        request=request,
        extensions=response.extensions,
    )


class ContractTransport(_Checking, httpx.BaseTransport):
    """A sync httpx transport that checks every API exchange through ``inner``.

    Args:
        inner: The transport that really sends (``httpx.HTTPTransport()``, a mock...).
        **options: ``mode``, ``contract``, ``log``, ``recorder``: see ``TransportOptions``.
    """

    def __init__(self, inner: httpx.BaseTransport, **options: Unpack[TransportOptions]) -> None:
        super().__init__(**options)
        self.inner = inner

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        found = self._operation(request)
        if found is None:
            return self.inner.handle_request(request)
        request.read()
        violations = self._request_violations(request, found)
        response = self.inner.handle_request(request)
        try:
            raw = _read_raw(response)
        finally:
            response.close()
        return self._checked(request, found, violations, response, raw)

    def close(self) -> None:
        self.inner.close()


class AsyncContractTransport(_Checking, httpx.AsyncBaseTransport):
    """The async twin of ``ContractTransport``; works with ``httpx.ASGITransport``.

    Args:
        inner: The transport that really sends (``httpx.ASGITransport(app=...)``, a mock...).
        **options: ``mode``, ``contract``, ``log``, ``recorder``: see ``TransportOptions``.
    """

    def __init__(
        self, inner: httpx.AsyncBaseTransport, **options: Unpack[TransportOptions]
    ) -> None:
        super().__init__(**options)
        self.inner = inner

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        found = self._operation(request)
        if found is None:
            return await self.inner.handle_async_request(request)
        await request.aread()
        violations = self._request_violations(request, found)
        response = await self.inner.handle_async_request(request)
        try:
            raw = await _aread_raw(response)
        finally:
            await response.aclose()
        return self._checked(request, found, violations, response, raw)

    async def aclose(self) -> None:
        await self.inner.aclose()


class _DualContractTransport(ContractTransport, AsyncContractTransport):
    """For an inner transport that is both sync and async (``httpx.MockTransport``)."""

    inner: httpx.BaseTransport | httpx.AsyncBaseTransport  # type: ignore[assignment]

    def __init__(
        self,
        inner: httpx.BaseTransport | httpx.AsyncBaseTransport,
        **options: Unpack[TransportOptions],
    ) -> None:
        _Checking.__init__(self, **options)
        self.inner = inner


class _SyncAndAsync(Protocol):
    """A transport that serves both kinds of client, such as ``httpx.MockTransport``."""

    def handle_request(self, request: httpx.Request) -> httpx.Response: ...

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response: ...


@overload
def wrap(inner: _SyncAndAsync, **options: Unpack[TransportOptions]) -> _DualContractTransport: ...


@overload
def wrap(
    inner: httpx.AsyncBaseTransport, **options: Unpack[TransportOptions]
) -> AsyncContractTransport: ...


@overload
def wrap(inner: httpx.BaseTransport, **options: Unpack[TransportOptions]) -> ContractTransport: ...


def wrap(
    inner: httpx.BaseTransport | httpx.AsyncBaseTransport | _SyncAndAsync,
    **options: Unpack[TransportOptions],
) -> ContractTransport | AsyncContractTransport:
    """A checked transport of the right kind for ``inner``: sync, async, or both; ``options``
    are ``TransportOptions``.

    This is the one-liner for a test suite's conftest: ``transport = wrap(inner)``.
    """
    is_sync = isinstance(inner, httpx.BaseTransport)
    is_async = isinstance(inner, httpx.AsyncBaseTransport)
    if is_sync and is_async:
        return _DualContractTransport(inner, **options)  # type: ignore[arg-type]
    if isinstance(inner, httpx.AsyncBaseTransport):
        return AsyncContractTransport(inner, **options)
    if isinstance(inner, httpx.BaseTransport):
        return ContractTransport(inner, **options)
    raise TypeError(f"not an httpx transport: {type(inner).__name__}")
