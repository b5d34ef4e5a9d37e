"""The emulated service: a Starlette app whose routes come from the spec, wrapped in one layer.

The outer layer (``Emulator.__call__``) gives every response an ``X-Request-Id``, counts what
arrives and injects faults; the Starlette app inside does auth, validation and the job
lifecycle. Response URLs are built from the incoming request's base URL, so they point back at
the emulator however it is reached.
"""

from __future__ import annotations

import functools
import random
import secrets
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Message, Receive, Scope, Send

from .._spec import operations, spec_document
from .._types import FAILED, state_outcomes
from ._constants import (
    DEFAULT_MAX_REQUESTS,
    DEFAULT_OUTPUTS,
    DEFAULT_SPEED,
    DEFAULT_TTL,
    DEFAULT_WORKERS,
    QUEUE_BASE_SECONDS,
    QUEUE_PER_VIDEO_SECOND,
    RUN_BASE_SECONDS,
    RUN_PER_VIDEO_SECOND,
    SPEC_PATH,
    VIDEO_PATH_PREFIX,
)
from ._faults import (
    STATUS_FAULTS,
    VIDEO_TARGET,
    FaultPlan,
    parse_faults,
)
from ._jobs import JobStore, JobView
from ._models import model_document, model_of_operation
from ._outputs import describe, parse_outputs
from ._responses import (
    INTERNAL,
    METHOD_NOT_ALLOWED,
    NOT_FOUND,
    drop_connection,
    error_response,
    fault_response,
    swallow,
    truncating,
)
from ._stats import EmulatorStats
from ._video import (
    SHARED_VIDEO_CACHE,
    VideoCache,
    require_video_stack,
)

__all__ = ["Emulator", "create_app"]
from ._handlers import (
    FAIL_FAULT,
    FAIL_SCOPE_KEY,
    OUTPUT_ROUTE,
    Handlers,
    _Handler,
    logger,
)


class Emulator(Handlers):
    """The emulated Sora 2 service; an ASGI app (it wraps a Starlette app) to serve with uvicorn
    or reach through an httpx transport. ``create_app`` is another name for it.

    Args:
        token: accept only this bearer token; None accepts any non-empty token.
        speed: divides every phase duration (2.0 runs twice as fast).
        workers: jobs that run at once; the others queue, with real queue positions.
        seed: seeds request ids and probabilistic faults; None draws one at random (see
            ``Emulator.seed``), so ids differ from run to run.
        faults: a ``FaultPlan`` or a fault spec string (see ``sora2.emulator.parse_faults``).
        clock: seconds, monotonic; the lifecycle is computed from it (a test passes a fake).
        max_requests: jobs held in memory at most; the oldest finished ones are evicted.
        ttl: seconds of ``clock`` a finished job stays readable.
        videos: the cache of encoded clips; the process-wide one by default.
        outputs: the output fields a completed job fills, e.g. ``"video"`` (the default),
            ``"images"`` or ``"image,videos"``: documented fields of the spec, each a real PNG
            (image) or MP4 (video); an array field gets several files.

    Attributes:
        stats: what the emulator received (see ``EmulatorStats``).
        clock: the clock the job lifecycle is computed from.
        videos: the cache of encoded clips (shared by default).
        starlette: the Starlette app inside (routes from the spec, no faults, no request ids).
    """

    def __init__(
        self,
        *,
        token: str | None = None,
        speed: float = DEFAULT_SPEED,
        workers: int = DEFAULT_WORKERS,
        seed: int | None = None,
        faults: FaultPlan | str | None = None,
        clock: Callable[[], float] | None = None,
        max_requests: int = DEFAULT_MAX_REQUESTS,
        ttl: float = DEFAULT_TTL,
        videos: VideoCache | None = None,
        outputs: str | Sequence[str] = DEFAULT_OUTPUTS,
    ) -> None:
        if not speed > 0:
            raise ValueError("speed must be greater than 0")
        if token is not None and not token.strip():
            raise ValueError("token must not be empty")
        self._token = token
        self._speed = float(speed)
        self._workers = workers
        # Random unless given: ids must not repeat across runs, or a journal would mix two jobs.
        self._seed = secrets.randbits(63) if seed is None else seed
        self.clock: Callable[[], float] = clock or time.monotonic
        self._wall_offset = time.time() - self.clock()
        self._outputs = parse_outputs(outputs)
        failed = [state for state, outcome in state_outcomes().items() if outcome == FAILED]
        self._failed_state = failed[0] if failed else FAILED
        self._jobs = JobStore(
            workers=workers,
            clock=self.clock,
            ttl=ttl,
            max_jobs=max_requests,
            failed_state=self._failed_state,
        )
        self._ids = random.Random(self._seed)
        self._ids_lock = threading.Lock()
        self.stats = EmulatorStats()
        self._faults = FaultPlan(seed=self._seed)
        self.faults = faults  # the setter parses strings
        self.videos = videos or SHARED_VIDEO_CACHE
        require_video_stack()
        self.starlette = self._build_app()

    # Public surface -----------------------------------------------------------------------

    @property
    def faults(self) -> FaultPlan:
        """The fault plan in force; assign a ``FaultPlan``, a spec string or None."""
        return self._faults

    @faults.setter
    def faults(self, value: FaultPlan | str | None) -> None:
        if value is None:
            value = FaultPlan(seed=self._seed)
        elif isinstance(value, str):
            value = parse_faults(value, seed=self._seed)
        self._faults = value

    @property
    def outputs(self) -> tuple[str, ...]:
        """The output fields a completed job fills (``create_app(outputs=...)``)."""
        return tuple(name for name, _ in self._outputs)

    @outputs.setter
    def outputs(self, value: str | Sequence[str]) -> None:
        self._outputs = parse_outputs(value)

    @property
    def speed(self) -> float:
        return self._speed

    @property
    def workers(self) -> int:
        return self._workers

    @property
    def seed(self) -> int:
        return self._seed

    @property
    def requires_token(self) -> bool:
        """True when only one token is accepted (``--token``); False when any token is."""
        return self._token is not None

    def phase_durations(self, seconds: int) -> tuple[float, float]:
        """(least time in_queue, time in_progress) of a job of ``seconds``, at this speed."""
        queue = (QUEUE_BASE_SECONDS + QUEUE_PER_VIDEO_SECOND * seconds) / self._speed
        run = (RUN_BASE_SECONDS + RUN_PER_VIDEO_SECOND * seconds) / self._speed
        return queue, run

    def job(self, request_id: str) -> JobView | None:
        """A snapshot of a job, as of ``clock()``; None if unknown or expired."""
        return self._jobs.get(request_id)

    def job_count(self) -> int:
        """Jobs held in memory (queued, running, and finished ones not expired yet)."""
        return len(self._jobs)

    def reset(self) -> None:
        """Forget every job, zero the counters and restart the fault plan's schedules."""
        self._jobs.clear()
        self.stats.reset()
        self._faults.reset()

    def __repr__(self) -> str:
        auth = "one token" if self._token is not None else "any token"
        return (
            f"Emulator(speed={self._speed}, workers={self._workers}, seed={self._seed}, "
            f"auth={auth!r}, faults={str(self._faults)!r}, outputs={describe(self._outputs)!r})"
        )

    # The outer layer ----------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.starlette(scope, receive, send)
            return
        exchange_id = uuid.uuid4().hex.encode()
        target = self._classify(scope["method"], scope["path"])
        self.stats.count_request(target)
        started = False

        async def send_with_id(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = [
                    (name, value)
                    for name, value in message.get("headers", [])
                    if name.lower() != b"x-request-id"
                ]
                headers.append((b"x-request-id", exchange_id))
                message = {**message, "headers": headers}
                self.stats.count_status(int(message["status"]))
            await send(message)

        decision = self._faults.decide(target)
        if decision.slow:
            for rule in decision.slow:
                self.stats.count_fault(rule.kind)
            logger.debug("slow fault on %s: %.3f s", target, decision.delay)
            import anyio

            await anyio.sleep(decision.delay)
        fault = decision.fault
        if fault is not None:
            self.stats.count_fault(fault.kind)
            logger.debug("fault on %s: %s", target, fault)
            if fault.kind in STATUS_FAULTS:
                await fault_response(fault)(scope, receive, send_with_id)
                return
            if fault.drops_before:
                await drop_connection(send)
                return
        if fault is not None and fault.kind == FAIL_FAULT:
            scope = {**scope, FAIL_SCOPE_KEY: True}
        outgoing: Send = send_with_id
        if fault is not None and fault.kind == "truncate":
            outgoing = truncating(send_with_id)
        elif fault is not None and fault.kind == "drop":
            outgoing = swallow
        try:
            await self.starlette(scope, receive, outgoing)
        except Exception:
            logger.exception("emulator failure on %s %s", scope["method"], scope["path"])
            if not started and outgoing is send_with_id:
                response = error_response(500, INTERNAL, "Internal error.")
                await response(scope, receive, send_with_id)
        if fault is not None and fault.kind == "drop":
            await drop_connection(send)

    def _classify(self, method: str, path: str) -> str:
        method = "GET" if method == "HEAD" else method
        for op in operations().values():
            if op.match(method, path) is not None:
                return _role(op.operation_id)
        if path.startswith(VIDEO_PATH_PREFIX + "/"):
            return VIDEO_TARGET
        if path == SPEC_PATH:
            return "spec"
        return "other"

    # The Starlette app ------------------------------------------------------------------

    def _build_app(self) -> Starlette:
        handlers: dict[str, _Handler] = {
            "submit": self._submit,
            "status": self._status,
            "result": self._result,
            "cancel": self._cancel,
            "model": self._model,  # unofficial (x-unofficial in the spec), see _models.py
        }
        by_path: dict[str, dict[str, _Handler]] = {}
        for op in operations().values():
            handler = handlers.get(_role(op.operation_id), self._not_implemented)
            model = model_of_operation(op.operation_id)
            if model is not None:
                # Every model's submit and document: one handler each, told which model.
                by_model: Callable[..., Awaitable[Response]] = handler
                handler = functools.partial(by_model, model=model)
            by_path.setdefault(op.path, {})[op.method] = handler
        routes = [
            Route(path, _dispatcher(methods), methods=sorted(methods))
            for path, methods in by_path.items()
        ]
        routes.append(Route(SPEC_PATH, self._spec, methods=["GET"]))
        routes.append(Route(OUTPUT_ROUTE, self._output, methods=["GET"]))
        return Starlette(
            routes=routes,
            exception_handlers={HTTPException: self._http_error, Exception: self._crash},
        )

    async def _http_error(self, request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            allowed = {m.strip() for m in headers.get("Allow", "").split(",") if m.strip()}
            headers["Allow"] = ", ".join(sorted(allowed))
            return error_response(405, METHOD_NOT_ALLOWED, "Method not allowed.", headers=headers)
        if exc.status_code == 404:
            return error_response(404, NOT_FOUND, "Not found.", headers=headers)
        code = exc.status_code * 1000 + 1
        return error_response(exc.status_code, code, str(exc.detail), headers=headers)

    async def _crash(self, request: Request, exc: Exception) -> Response:
        return error_response(500, INTERNAL, "Internal error.")

    async def _not_implemented(self, request: Request) -> Response:
        return error_response(501, 501001, "Not implemented by the emulator.")

    async def _spec(self, request: Request) -> Response:
        return JSONResponse(spec_document())

    async def _model(self, request: Request, model: str | None = None) -> Response:
        denied = self._unauthorized(request)
        if denied is not None:
            return denied
        return JSONResponse(model_document(model))


def _role(operation_id: str) -> str:
    """What an operation is to the emulator: every model's POST is ``submit`` and its GET is
    ``model`` (so a fault on ``submit`` hits them all); any other operation is its own id."""
    from .._spec import model

    found = model_of_operation(operation_id)
    if found is None:
        return operation_id
    return "submit" if model(found).submit.operation_id == operation_id else "model"


def _dispatcher(methods: dict[str, _Handler]) -> _Handler:
    async def endpoint(request: Request) -> Response:
        method = "GET" if request.method == "HEAD" else request.method
        return await methods[method](request)

    return endpoint


create_app = Emulator
"""A new emulator (``create_app(seed=7)`` is ``Emulator(seed=7)``): the name the guides and the
``sora2.emulator`` docs use for building one; ``Emulator`` lists the options."""
