"""The emulator's answers to the spec's operations, from its job store.

``Emulator`` (``sora2.emulator._app``) adds the outer ASGI layer: request ids, statistics,
faults and the routes; the handlers here answer one request each, as the service would.
"""

from __future__ import annotations

import hmac
import json
import logging
import random
import threading
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response

from .._inputs import PROMPT_INPUT, duration_property, input_fields, size_property
from .._spec import operation
from .._types import COMPLETED, FILE_KIND, IN_QUEUE
from ._constants import (
    FAILURE_MESSAGE,
    MAX_BODY_BYTES,
    VIDEO_PATH_PREFIX,
)
from ._jobs import JobStore, JobView, StoreFullError
from ._outputs import MEDIA, OTHER_MEDIA, field_is_list, media_of, output_names
from ._responses import (
    BAD_JSON,
    INVALID,
    NOT_CANCELLABLE,
    NOT_FOUND,
    TOO_LARGE,
    UNAUTHORIZED,
    UNAVAILABLE,
    UNSUPPORTED_MEDIA_TYPE,
    error_response,
    ranged,
)
from ._stats import EmulatorStats as _Stats
from ._validation import body_defaults, validation_details
from ._video import (
    VideoCache,
    encode_png,
    parse_size,
)

__all__ = ["Handlers"]


logger = logging.getLogger("sora2.emulator")
_T = TypeVar("_T")

_Handler = Callable[[Request], Awaitable[Response]]

JSON_MEDIA_TYPE = "application/json"
OUTPUT_ROUTE = VIDEO_PATH_PREFIX + "/{request_id}/{size}/{seconds}/{name}"
"""Every output file: ``video.mp4``, ``images-2.png``...; the name's extension says what it is."""
FAIL_SCOPE_KEY = "sora2.emulator.fail"
"""Set in the ASGI scope of a submission a ``fail`` fault fired on."""
FAIL_FAULT = "fail"
"""The fault kind that makes the job a submission creates end failed."""
CLIENT_CLOSED = 499
"""The status recorded (as nginx does) when the client left before its body was read: no job
was made and nobody hears the answer, so it is not a 5xx and not an emulator failure."""


def _iso(timestamp: float) -> str:
    moment = datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="milliseconds")
    return moment.replace("+00:00", "Z")


def _choices(field: str) -> list[Any] | None:
    found = input_fields().get(field)
    return list(found.choices) if found is not None and found.choices is not None else None


def _size_and_seconds() -> tuple[str, str]:
    """The inputs a video is rendered by: its size and its length, as ``sora2._inputs``
    identifies them in the spec."""
    size, seconds = size_property(), duration_property()
    assert size is not None and seconds is not None, "the spec names no size or duration input"
    return size, seconds


def _rendered(body: dict[str, Any]) -> dict[str, Any]:
    """The size and length the emulator renders a job at.

    Judgement call: a model whose schema states no size or duration (the Pro models, whose
    published schemas could not be read) is rendered at the value sent when the default model
    allows it, else at the default model's default: the emulator stands in for the queue, not
    for each model's renderer.
    """
    defaults = body_defaults()
    rendered: dict[str, Any] = {}
    for name in _size_and_seconds():
        allowed = _choices(name)
        value = body.get(name)
        if value is None or (allowed is not None and value not in allowed):
            rendered[name] = defaults[name]
    return rendered


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


class Handlers:
    """submit, status, result, cancel and the output files, answered like the service."""

    _token: str | None
    _wall_offset: float
    _outputs: tuple[tuple[str, str], ...]
    _failed_state: str
    _jobs: JobStore
    _ids: random.Random
    _ids_lock: threading.Lock
    stats: _Stats
    videos: VideoCache

    def phase_durations(self, seconds: int) -> tuple[float, float]:
        raise NotImplementedError

    def _unauthorized(self, request: Request) -> Response | None:
        header = request.headers.get("authorization")
        if header is None:
            return error_response(401, UNAUTHORIZED, "Unauthorized: no bearer token.")
        scheme, _, credentials = header.strip().partition(" ")
        credentials = credentials.strip()
        if scheme.lower() != "bearer" or not credentials or " " in credentials:
            return error_response(
                401, UNAUTHORIZED, "Unauthorized: expected 'Authorization: Bearer <token>'."
            )
        if self._token is not None and not hmac.compare_digest(
            credentials.encode(), self._token.encode()
        ):
            return error_response(401, UNAUTHORIZED, "Unauthorized: invalid token.")
        return None

    def _new_request_id(self) -> str:
        with self._ids_lock:
            bits = self._ids.getrandbits(128)
        return str(uuid.UUID(int=bits, version=4))

    def _urls(self, request: Request, request_id: str) -> dict[str, str]:
        base = str(request.base_url).rstrip("/")
        return {
            f"{name}_url": base + operation(name).url_path(request_id=request_id)
            for name in ("status", "result", "cancel")
        }

    def _state_body(self, request: Request, view: JobView) -> dict[str, Any]:
        urls = self._urls(request, view.request_id)
        body: dict[str, Any] = {"request_id": view.request_id, "status": view.state}
        if view.state == IN_QUEUE and view.queue_position is not None:
            body["queue_position"] = view.queue_position
        if view.state == self._failed_state:
            body["error"] = {"message": FAILURE_MESSAGE, "code": "emulator_fault"}
        body["status_url"] = urls["status_url"]
        body["result_url"] = urls["result_url"]
        return body

    async def _read_body(self, request: Request) -> bytes | None:
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
            return None
        chunks: list[bytes] = []
        total = 0
        async for chunk in request.stream():
            total += len(chunk)
            if total > MAX_BODY_BYTES:
                return None
            chunks.append(chunk)
        return b"".join(chunks)

    async def _submit(self, request: Request, model: str | None = None) -> Response:
        """Submit a job to ``model`` (None: the spec's default model), checked against that
        model's own input schema."""
        denied = self._unauthorized(request)
        if denied is not None:
            return denied
        media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if media_type != JSON_MEDIA_TYPE:
            return error_response(
                415, UNSUPPORTED_MEDIA_TYPE, f"Content-Type must be {JSON_MEDIA_TYPE}."
            )
        try:
            raw = await self._read_body(request)
        except ClientDisconnect:
            return Response(status_code=CLIENT_CLOSED)
        if raw is None:
            return error_response(413, TOO_LARGE, f"Request body exceeds {MAX_BODY_BYTES} bytes.")
        try:
            body = json.loads(raw, parse_constant=_reject_constant)
        except (ValueError, UnicodeDecodeError) as exc:
            return error_response(400, BAD_JSON, f"Body is not valid JSON: {exc}.")
        details = validation_details(body, model)
        if details:
            return error_response(422, INVALID, "Validation error.", detail=details)
        sent = list(body)
        # The service applies the spec's defaults; the job records every input, known or new.
        body = {**body_defaults(model), **body}
        body.update(_rendered(body))
        queue_time, run_time = self.phase_durations(int(body[_size_and_seconds()[1]]))
        request_id = self._new_request_id()
        try:
            self._jobs.submit(
                request_id,
                body,
                queue_time=queue_time,
                run_time=run_time,
                fails=bool(request.scope.get(FAIL_SCOPE_KEY)),
            )
        except StoreFullError:
            return error_response(
                503,
                UNAVAILABLE,
                "Service unavailable: too many requests in flight.",
                headers={"Retry-After": str(max(1, round(run_time)))},
            )
        self.stats.count_submission(str(body[PROMPT_INPUT]), sent)
        return JSONResponse({"request_id": request_id, **self._urls(request, request_id)})

    def _lookup(self, request: Request, find: Callable[[str], _T | None]) -> _T | Response:
        """``find`` applied to the request's id, or the 401 or 404 answer that comes first."""
        denied = self._unauthorized(request)
        if denied is not None:
            return denied
        found = find(request.path_params["request_id"])
        if found is None:
            return error_response(404, NOT_FOUND, "Request not found or expired.")
        return found

    async def _status(self, request: Request) -> Response:
        found = self._lookup(request, self._jobs.get)
        if isinstance(found, Response):
            return found
        return JSONResponse(self._state_body(request, found))

    async def _result(self, request: Request) -> Response:
        found = self._lookup(request, self._jobs.get)
        if isinstance(found, Response):
            return found
        if found.state != COMPLETED:
            return JSONResponse(self._state_body(request, found))
        assert found.finished_at is not None
        base = str(request.base_url).rstrip("/")
        size_input, seconds_input = _size_and_seconds()
        size = str(found.body[size_input])
        seconds = int(found.body[seconds_input])
        output: dict[str, Any] = {}
        for field, kind in self._outputs:
            urls = [
                base
                + OUTPUT_ROUTE.format(
                    request_id=found.request_id, size=size, seconds=seconds, name=name
                )
                for name in output_names(field, kind)
            ]
            output[field] = urls if field_is_list(field) else urls[0]
        return JSONResponse(
            {
                "request_id": found.request_id,
                "status": found.state,
                "output": output,
                "created_at": _iso(found.submitted_at + self._wall_offset),
                "finished_at": _iso(found.finished_at + self._wall_offset),
            }
        )

    async def _cancel(self, request: Request) -> Response:
        outcome = self._lookup(request, self._jobs.cancel)
        if isinstance(outcome, Response):
            return outcome
        view, cancelled = outcome
        if not cancelled:
            return error_response(
                409,
                NOT_CANCELLABLE,
                f"Request is {view.state}; only queued requests can be cancelled.",
                detail=[{"loc": ["status"], "msg": view.state, "type": "state"}],
            )
        return JSONResponse({"request_id": view.request_id, "status": view.state})

    async def _output(self, request: Request) -> Response:
        params = request.path_params
        sizes, durations = (_choices(name) for name in _size_and_seconds())
        by_extension = {extension: kind for kind, (extension, _) in MEDIA.items()}
        by_extension[OTHER_MEDIA[0]] = FILE_KIND
        kind = by_extension.get(str(params["name"]).rpartition(".")[2])
        try:
            width, height = parse_size(params["size"])
            seconds = int(params["seconds"])
        except ValueError:
            return error_response(404, NOT_FOUND, "No such output.")
        if (
            kind is None
            or (sizes is not None and params["size"] not in sizes)
            or (durations is not None and seconds not in durations)
        ):
            return error_response(404, NOT_FOUND, "No such output.")
        if kind != "video":  # an image, or the bytes of any other kind: a real PNG still
            import anyio.to_thread

            data = await anyio.to_thread.run_sync(encode_png, width, height)
        else:
            data = await self.videos.aget(width, height, seconds)
        return ranged(request, data, media_type=media_of(kind)[1])
