"""HTTP building blocks of the emulator: the spec's error body and codes, ranged file answers,
and the ``send`` wrappers that inject a truncated or a lost response."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.types import Message, Send

from ._faults import ConnectionDropped, FaultRule

__all__ = [
    "BAD_GATEWAY_PAGE",
    "BAD_JSON",
    "INTERNAL",
    "INVALID",
    "METHOD_NOT_ALLOWED",
    "NOT_CANCELLABLE",
    "NOT_FOUND",
    "RATE_LIMITED",
    "TOO_LARGE",
    "UNAUTHORIZED",
    "UNAVAILABLE",
    "UNSUPPORTED_MEDIA_TYPE",
    "drop_connection",
    "error_response",
    "fault_response",
    "ranged",
    "swallow",
    "truncating",
]

# error_code values of the spec (components.schemas.Error); 400003 and 405001 are this
# emulator's own choices, the spec names no code for a body that is not JSON or a bad method.
BAD_JSON = 400003
UNAUTHORIZED = 401001
NOT_FOUND = 404001
METHOD_NOT_ALLOWED = 405001
NOT_CANCELLABLE = 409001
TOO_LARGE = 413001
UNSUPPORTED_MEDIA_TYPE = 415001
INVALID = 422001
RATE_LIMITED = 429001
INTERNAL = 500001
UNAVAILABLE = 503001

BAD_GATEWAY_PAGE = (
    "<html><head><title>502 Bad Gateway</title></head><body><h1>502 Bad Gateway</h1></body></html>"
)


def error_response(
    status: int,
    error_code: int,
    message: str,
    *,
    detail: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    """A response with the spec's ``Error`` body."""
    body: dict[str, Any] = {"error_code": error_code, "message": message}
    if detail:
        body["detail"] = detail
    return JSONResponse(body, status_code=status, headers=headers)


def ranged(request: Request, data: bytes, *, media_type: str = "video/mp4") -> Response:
    """The file, honouring a single ``Range: bytes=...`` and HEAD, as a CDN would."""
    total = len(data)
    headers = {"Accept-Ranges": "bytes", "Cache-Control": "public, max-age=86400"}
    status = 200
    start, end = 0, total - 1
    spec = request.headers.get("range", "")
    if spec.startswith("bytes=") and "," not in spec:
        first, _, last = spec[len("bytes=") :].strip().partition("-")
        try:
            if first:
                start = int(first)
                end = min(int(last), total - 1) if last else total - 1
            else:
                start = max(0, total - int(last))
        except ValueError:
            start, end = 0, total - 1
        else:
            if start > end or start >= total:
                return Response(
                    status_code=416, headers={**headers, "Content-Range": f"bytes */{total}"}
                )
            status = 206
            headers["Content-Range"] = f"bytes {start}-{end}/{total}"
    chunk = data[start : end + 1]
    headers["Content-Length"] = str(len(chunk))
    body = b"" if request.method == "HEAD" else chunk
    return Response(body, status_code=status, headers=headers, media_type=media_type)


async def swallow(message: Message) -> None:
    """The send of a response that will never be delivered (an injected drop)."""


def truncating(send: Send) -> Send:
    """A send that delivers only the first half of the body, with a matching Content-Length."""
    start: Message | None = None
    parts: list[bytes] = []

    async def wrapped(message: Message) -> None:
        nonlocal start
        if message["type"] == "http.response.start":
            start = message
            return
        if message["type"] != "http.response.body" or start is None:
            await send(message)
            return
        parts.append(message.get("body", b""))
        if message.get("more_body", False):
            return
        body = b"".join(parts)
        cut = body[: len(body) // 2]
        headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
        headers.append((b"content-length", str(len(cut)).encode()))
        await send({**start, "headers": headers})
        await send({"type": "http.response.body", "body": cut})

    return wrapped


def fault_response(fault: FaultRule) -> Response:
    """The answer of a status fault: the spec's error (with Retry-After) or the edge's page."""
    if fault.kind == "502":
        return HTMLResponse(BAD_GATEWAY_PAGE, status_code=502)
    asks_to_wait = {
        "429": (429, RATE_LIMITED, "Too many requests."),
        "503": (503, UNAVAILABLE, "Service unavailable."),
    }
    if fault.kind in asks_to_wait:
        status, code, message = asks_to_wait[fault.kind]
        return error_response(
            status, code, message, headers={"Retry-After": str(fault.retry_after)}
        )
    return error_response(500, INTERNAL, "Internal error.")


async def drop_connection(send: Send) -> None:
    """Close the connection without a response (or raise, where there is no connection).

    uvicorn's ``send`` is a method of its request cycle, which holds the asyncio transport:
    aborting it closes the socket before any byte of a response. Any other server, and the
    in-process transports, get ``ConnectionDropped`` instead.
    """
    transport = getattr(getattr(send, "__self__", None), "transport", None)
    abort = getattr(transport, "abort", None)
    if not callable(abort):
        raise ConnectionDropped()
    abort()
    import anyio

    # Let the server see the connection is lost, so it does not answer in our stead.
    await anyio.sleep(0)
    await anyio.sleep(0)
