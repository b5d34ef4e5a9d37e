"""Hostile input and hostile answers: whatever comes in, the client answers with a value or a
``Sora2Error``, never an untyped exception, and never sends a request for an invalid input."""

from __future__ import annotations

import datetime
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
import stamina
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from sora2 import AsyncClient, Client, DownloadError, InvalidInputError, Sora2Error
from sora2._inputs import PROMPT_INPUT, input_fields
from sora2._spec import MODELS_PREFIX, ecma_pattern
from sora2._types import NOT_GIVEN, JobResult, JobStatus, Submission
from sora2.emulator import create_app

from .helpers import API_URL, TOKEN, choices, leftovers, submit_answer

EXAMPLES = 150
"""Per test: enough to find the classic breakages, few enough for CI's 2 shared cores."""
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
REQUEST_ID = "3f1c2a9e-0b7d-4e8a-9c61-5d2f7a8b9e10"
VIDEO_URL = "https://cdn.runcomfy.net/outputs/video.mp4"


@pytest.fixture(autouse=True)
def _no_backoff() -> Iterator[None]:
    """Retries still happen (and are decided as in production), but never sleep."""
    with stamina.set_testing(True, attempts=100, cap=True):
        yield


# Inputs ---------------------------------------------------------------------------------------

_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.binary(max_size=20),
    st.decimals(allow_nan=False),
    st.complex_numbers(allow_nan=False, allow_infinity=False),
    st.dates(),
    st.builds(object),
)
ANYTHING = st.one_of(
    _SCALARS,
    st.lists(_SCALARS, max_size=3),
    st.tuples(_SCALARS),
    st.dictionaries(st.text(max_size=3), _SCALARS, max_size=3),
    st.frozensets(st.integers(), max_size=3),
)
"""Values of every kind a caller might pass by mistake."""

_ANY_CHAR = st.characters(codec=None)  # every code point, lone surrogates included
PROMPTS = st.one_of(
    st.text(alphabet=_ANY_CHAR, max_size=200),
    st.builds(lambda c, n: c * n, _ANY_CHAR, st.integers(0, 3_000_000)),  # huge prompts
    st.sampled_from(["", " ", "\x00", "\u202e", "🎬" * 1000, "\ud800", "a\udfffb"]),
    ANYTHING,
)


def _near_misses(name: str) -> st.SearchStrategy[Any]:
    """The allowed values, and values that only look like them (another type, case, spacing)."""
    allowed = choices(name)
    looks_alike: list[Any] = []
    for value in allowed:
        looks_alike += [str(value), f" {value}", str(value).upper(), [value]]
        if isinstance(value, int):
            looks_alike += [float(value), value + 1, -value, bool(value % 2)]
    return st.one_of(
        st.just(NOT_GIVEN), st.sampled_from(allowed), st.sampled_from(looks_alike), ANYTHING
    )


def _is_valid(prompt: Any, size: Any, seconds: Any) -> bool:
    """The oracle, from the spec's rules: a text prompt of the spec's length and pattern, and
    exactly an allowed value (of exactly the allowed type) for each option; None or NOT_GIVEN
    means "not sent"."""

    def allowed(name: str, value: Any) -> bool:
        if value is NOT_GIVEN or value is None:
            return True
        return any(type(value) is type(c) and value == c for c in choices(name))

    rules = input_fields()[PROMPT_INPUT]
    if not isinstance(prompt, str) or len(prompt) < (rules.min_length or 0):
        return False
    if rules.pattern is not None and re.search(ecma_pattern(rules.pattern), prompt) is None:
        return False  # e.g. a prompt of only whitespace, as ECMA-262 (not Python) counts it
    try:
        prompt.encode("utf-8")
    except UnicodeEncodeError:
        return False  # a lone surrogate cannot be sent as JSON text
    return allowed("size", size) and allowed("seconds", seconds)


class TestSubmitInputs:
    @FUZZ
    @given(prompt=PROMPTS, size=_near_misses("size"), seconds=_near_misses("seconds"))
    @example(prompt="a\ud800", size=NOT_GIVEN, seconds=NOT_GIVEN)  # once failed inside httpx
    @example(prompt="\x1f", size=NOT_GIVEN, seconds=NOT_GIVEN)  # whitespace to Python, not ECMA
    def test_accepted_or_invalid_input_and_nothing_sent(
        self, prompt: Any, size: Any, seconds: Any
    ) -> None:
        """Any prompt, size and seconds: a Submission after one request, or InvalidInputError
        with no request sent; which one matches the spec's rules exactly."""
        sent: list[httpx.Request] = []

        def handler(request: httpx.Request) -> httpx.Response:
            if request.method == "GET" and request.url.path.startswith(MODELS_PREFIX):
                return httpx.Response(404)  # the price a submit asks first: not counted
            sent.append(request)
            return httpx.Response(200, json=submit_answer(REQUEST_ID))

        with Client(
            TOKEN, base_url=API_URL, transport=httpx.MockTransport(handler), journal=False
        ) as client:
            try:
                submission = client.submit(prompt, size=size, seconds=seconds)
            except InvalidInputError as error:
                assert [] == sent
                assert not _is_valid(prompt, size, seconds), error
                assert error.field in ("prompt", "size", "seconds")
                return
        assert _is_valid(prompt, size, seconds)
        assert REQUEST_ID == submission.request_id
        assert 1 == len(sent)
        body = json.loads(sent[0].content)
        assert prompt == body["prompt"]
        for name, value in (("size", size), ("seconds", seconds)):
            if value is NOT_GIVEN or value is None:
                assert name not in body  # left to the service's default
            else:
                assert value == body[name]

    def test_the_emulator_agrees_with_the_oracle_on_what_is_sent(self) -> None:
        """Every body the client accepts, the emulator (the spec's own validator) accepts too."""
        app = create_app()
        from sora2.emulator import SyncASGITransport

        with Client(TOKEN, base_url="http://localhost", transport=SyncASGITransport(app)) as c:
            for size in choices("size"):
                for seconds in choices("seconds"):
                    c.submit("\u202e\U0001f3ac " + "x" * 10_000, size=size, seconds=seconds)
        assert len(choices("size")) * len(choices("seconds")) == app.stats.requests["submit"]
        assert {200} == set(app.stats.statuses)


# Answers ------------------------------------------------------------------------------------------

_JSON = st.recursive(
    st.one_of(
        st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=30)
    ),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=12,
)
_STATES = st.sampled_from(["in_queue", "in_progress", "completed", "cancelled", "failed", ""])
_TIMES = st.one_of(
    st.datetimes(timezones=st.just(datetime.UTC)).map(lambda d: d.isoformat()),
    st.sampled_from(["2025-01-01T00:00:00Z", "yesterday", "2025-13-45T99:99:99", ""]),
    _JSON,
)


def _maybe(value: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Usually the well-typed value, sometimes anything at all."""
    return st.one_of(value, value, value, _JSON)


def _shaped(operation_id: str) -> st.SearchStrategy[Any]:
    """Bodies that look like the spec's answer for ``operation_id``, with fields gone wrong."""
    ids = _maybe(st.one_of(st.sampled_from([REQUEST_ID, ""]), st.just(500).map(lambda n: "x" * n)))
    if operation_id == "submit":
        url = _maybe(st.sampled_from([API_URL + "/x", "not a url", ""]))
        fields = {"request_id": ids, "status_url": url, "result_url": url, "cancel_url": url}
    else:
        fields = {
            "request_id": ids,
            "status": _maybe(_STATES),
            "queue_position": _maybe(st.integers(-3, 10**20)),
        }
        if operation_id == "result":
            video = _maybe(st.sampled_from([VIDEO_URL, "", "ftp://x"]))
            fields |= {
                "output": _maybe(st.fixed_dictionaries({}, optional={"video": video})),
                "created_at": _TIMES,
                "finished_at": _TIMES,
            }
    return st.fixed_dictionaries({}, optional=fields).flatmap(
        lambda base: st.dictionaries(st.text(max_size=6), _JSON, max_size=2).map(
            lambda extra: {**extra, **base}
        )
    )


_ERROR_BODIES = st.fixed_dictionaries(
    {},
    optional={
        "error_code": _maybe(st.sampled_from([400002, 400004, 401001, 409001, 500001])),
        "message": _maybe(st.text(max_size=40)),
        "detail": _maybe(st.lists(_JSON, max_size=2)),
    },
)
_STATUS_CODES = st.one_of(
    st.sampled_from([200, 200, 200, 201, 202, 204, 302, 400, 401, 403, 404, 409, 422, 429, 500]),
    st.sampled_from([502, 503, 504]),
    st.integers(100, 599),
)
_HEADER_TEXT = st.text(
    alphabet=st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"),
    max_size=12,
).map(lambda text: text.strip().encode("latin-1"))
"""What a server can put in a header value: visible ASCII, spaces and obs-text bytes."""
_RETRY_AFTER = st.one_of(
    st.integers(-10, 10**12).map(str),
    st.floats(allow_nan=True).map(str),
    st.sampled_from(["Wed, 21 Oct 2015 07:28:00 GMT", "Fri, 31 Dec 9999 23:59:59 GMT", "soon"]),
    _HEADER_TEXT,
)
_HEADERS = st.fixed_dictionaries(
    {},
    optional={
        "content-type": st.sampled_from(["application/json", "text/html", "x/y", ""]),
        "retry-after": _RETRY_AFTER,
        "x-request-id": st.text(alphabet="abcdef0123456789", max_size=40),
        "location": st.sampled_from(["https://elsewhere.test/", "/relative", "http://[::1"]),
    },
)
_TRANSPORT_ERRORS = st.sampled_from(
    [
        httpx.ConnectError,
        httpx.ConnectTimeout,
        httpx.ReadTimeout,
        httpx.WriteTimeout,
        httpx.PoolTimeout,
        httpx.ReadError,
        httpx.WriteError,
        httpx.RemoteProtocolError,
        httpx.LocalProtocolError,
        httpx.ProxyError,
        httpx.UnsupportedProtocol,
    ]
)


@dataclass(frozen=True)
class Answer:
    """One HTTP answer as sent on the wire; decoded only when the client reads it."""

    status: int
    headers: dict[str, Any]
    body: bytes

    def response(self) -> httpx.Response:
        return httpx.Response(self.status, headers=self.headers, stream=httpx.ByteStream(self.body))


def _answers(operation_id: str) -> st.SearchStrategy[Answer | type[httpx.RequestError]]:
    """One answer: a status code, headers and a body (shaped, JSON, bytes or cut), or a
    transport error."""
    bodies = st.one_of(
        _shaped(operation_id).map(lambda b: json.dumps(b).encode()),
        _shaped(operation_id).map(lambda b: json.dumps(b).encode()[: len(json.dumps(b)) // 2]),
        _ERROR_BODIES.map(lambda b: json.dumps(b).encode()),
        _JSON.map(lambda b: json.dumps(b).encode()),
        st.binary(max_size=64),
        st.sampled_from([b"", b"<html><body>502 Bad Gateway</body></html>"]),
        st.just(100_000).map(lambda n: b"[" * n),  # deeper than any JSON parser recurses
    )
    responses = st.builds(Answer, _STATUS_CODES, _HEADERS, bodies)
    return st.one_of(responses, responses, responses, _TRANSPORT_ERRORS)


def _scripted(
    answers: list[Answer | type[httpx.RequestError]],
    seen: list[httpx.Request],
    served: list[Answer] | None = None,
) -> Callable[[httpx.Request], httpx.Response]:
    """A handler that plays ``answers`` in order, the last one again for any retry."""

    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "GET" and request.url.path.startswith(MODELS_PREFIX):
            # The price a submit asks first (unofficial route): absent here, and not counted;
            # tests/client/test_costs.py feeds it garbage.
            return httpx.Response(404)
        seen.append(request)
        answer = answers.pop(0) if len(answers) > 1 else answers[0]
        if isinstance(answer, Answer):
            if served is not None:
                served.append(answer)
            return answer.response()
        raise answer("injected", request=request)

    return handler


_EXPECTED: dict[str, type[Any]] = {
    "submit": Submission,
    "status": JobStatus,
    "result": JobResult,
    "cancel": JobStatus,
}


def _call(client: Client, operation_id: str) -> Any:
    if operation_id == "submit":
        return client.submit("A red kite over the dunes")
    method: Callable[[str], Any] = getattr(client, operation_id)
    return method(REQUEST_ID)


async def _acall(client: AsyncClient, operation_id: str) -> Any:
    if operation_id == "submit":
        return await client.submit("A red kite over the dunes")
    method: Callable[[str], Any] = getattr(client, operation_id)
    return await method(REQUEST_ID)


def _check_outcome(operation_id: str, outcome: Any) -> None:
    if isinstance(outcome, BaseException):
        assert isinstance(outcome, Sora2Error), repr(outcome)
        assert TOKEN not in str(outcome) and TOKEN not in repr(outcome)
        return
    assert isinstance(outcome, _EXPECTED[operation_id]), repr(outcome)
    assert isinstance(outcome.request_id, str)  # the spec asks for a string, not a non-empty one
    if isinstance(outcome, JobStatus | JobResult):
        assert isinstance(outcome.state, str)
    if isinstance(outcome, JobResult) and outcome.video_url is not None:
        assert isinstance(outcome.video_url, str)


@pytest.mark.parametrize("operation_id", list(_EXPECTED))
class TestAnswers:
    @FUZZ
    @given(data=st.data())
    def test_sync_client_gives_a_value_or_a_typed_error(
        self, operation_id: str, data: st.DataObject
    ) -> None:
        """Any status, headers and body (or transport error) for an operation, retried or
        not, gives its typed value or a Sora2Error, never anything else."""
        answers = data.draw(st.lists(_answers(operation_id), min_size=1, max_size=3))
        seen: list[httpx.Request] = []
        transport = httpx.MockTransport(_scripted(answers, seen))
        with Client(
            TOKEN, base_url=API_URL, transport=transport, journal=False, max_retries=2
        ) as client:
            try:
                outcome: Any = _call(client, operation_id)
            except Exception as exc:  # the assertion is on its type
                outcome = exc
        _check_outcome(operation_id, outcome)
        assert 1 <= len(seen) <= 3
        assert {httpx.URL(API_URL).host} == {r.url.host for r in seen}

    @FUZZ
    @given(data=st.data())
    def test_async_client_gives_a_value_or_a_typed_error(
        self, operation_id: str, data: st.DataObject
    ) -> None:
        """The async client meets the same answers the same way."""
        answers = data.draw(st.lists(_answers(operation_id), min_size=1, max_size=3))
        seen: list[httpx.Request] = []

        async def run() -> Any:
            transport = httpx.MockTransport(_scripted(answers, seen))
            async with AsyncClient(
                TOKEN, base_url=API_URL, transport=transport, journal=False, max_retries=2
            ) as client:
                try:
                    return await _acall(client, operation_id)
                except Exception as exc:  # the assertion is on its type
                    return exc

        _check_outcome(operation_id, anyio.run(run))


# Downloads --------------------------------------------------------------------------------------

_VIDEO_TYPES = st.sampled_from(
    ["video/mp4", "application/octet-stream", "video/", "text/html", "", "VIDEO/MP4; x=1"]
)


@st.composite
def _file_answers(draw: st.DrawFn) -> Answer | type[httpx.RequestError]:
    if draw(st.integers(0, 9)) == 0:
        return draw(_TRANSPORT_ERRORS)
    body = draw(st.binary(max_size=2048))
    headers: dict[str, Any] = {}
    content_type = draw(st.one_of(st.none(), st.just("video/mp4"), _VIDEO_TYPES))
    if content_type is not None:
        headers["content-type"] = content_type
    length = draw(
        st.one_of(
            st.none(),
            st.just(str(len(body))),
            st.integers(-5, 5000).map(str),
            st.sampled_from(["abc", "1e3", ""]),
        )
    )
    if length is not None:
        headers["content-length"] = length
    if draw(st.integers(0, 3)) == 0:
        headers["content-encoding"] = draw(st.sampled_from(["gzip", "deflate", "br", "bogus"]))
    status = draw(st.one_of(st.just(200), st.just(200), _STATUS_CODES))
    if 300 <= status < 400 and draw(st.booleans()):
        headers["location"] = draw(
            st.sampled_from(
                [VIDEO_URL, "http://remote.test/v.mp4", "ftp://x/v.mp4", "/v.mp4", "http://[::1"]
            )
        )
    return Answer(status, headers, body)


class TestDownloads:
    @FUZZ
    @given(answers=st.lists(_file_answers(), min_size=1, max_size=4))
    @example(  # a corrupt gzip body once escaped as httpx.DecodingError
        answers=[Answer(200, {"content-type": "video/mp4", "content-encoding": "gzip"}, b"x")]
    )
    def test_saved_whole_or_typed_error_and_nothing_left(
        self, tmp_path_factory: pytest.TempPathFactory, answers: list[Any]
    ) -> None:
        """Any answer to a video download: the whole body saved at the target, or a
        DownloadError with nothing at the target and no temporary file left; never the token."""
        directory = tmp_path_factory.mktemp("downloads")
        target = directory / "video.mp4"
        seen: list[httpx.Request] = []
        served: list[Answer] = []
        transport = httpx.MockTransport(_scripted(list(answers), seen, served))
        saved: Path | Exception
        with Client(TOKEN, base_url=API_URL, transport=transport, journal=False) as client:
            try:
                (saved,) = client.download(VIDEO_URL, target)
            except Exception as exc:  # the assertion is on its type
                saved = exc
        assert [] == leftovers(directory)
        assert all("authorization" not in r.headers for r in seen)
        if isinstance(saved, Exception):
            assert isinstance(saved, DownloadError), repr(saved)
            assert not target.exists()
            return
        assert target == saved
        last = served[-1]
        assert 200 == last.status
        if "content-encoding" not in last.headers:
            assert last.body == target.read_bytes()


# Output paths ---------------------------------------------------------------------------------


class TestOutputPaths:
    @FUZZ
    @given(
        name=st.text(max_size=40),
        prefix=st.sampled_from(["", "sub/", "file/", "file/deeper/", "/proc/x/", "dir/"]),
    )
    @example(name="a\x00b/x.mp4", prefix="")
    @example(name="ok\x00.mp4", prefix="dir/")
    def test_checked_or_invalid_input_never_anything_else(
        self, tmp_path_factory: pytest.TempPathFactory, name: str, prefix: str
    ) -> None:
        """Any output path is accepted (its directory now exists) or refused as invalid input
        naming ``out``: never an OSError or a ValueError, before anything is paid for."""
        from sora2._download import check_output_target

        root = tmp_path_factory.mktemp("out")
        (root / "file").write_text("x")
        (root / "dir").mkdir()
        path = prefix + name if prefix.startswith("/") else str(root / (prefix + name))
        try:
            check_output_target(path)
        except InvalidInputError as exc:
            assert "out" == exc.field
        except Exception as exc:  # the assertion is on its type
            raise AssertionError(f"{path!r}: {exc!r}") from exc
