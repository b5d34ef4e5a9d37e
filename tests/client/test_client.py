"""The clients' lifecycle, configuration and error mapping, against the emulator in process."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

import sora2
from sora2 import (
    APIResponseValidationError,
    AsyncClient,
    AuthenticationError,
    BadRequestError,
    Client,
    ConfigurationError,
    ConflictError,
    InsufficientBalanceError,
    InternalServerError,
    InvalidInputError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    UnprocessableEntityError,
)
from sora2._inputs import PROMPT_INPUT, input_fields
from sora2._spec import server_url
from sora2._types import NOT_GIVEN, known_states
from sora2.emulator import Emulator, create_app

from .helpers import TOKEN, Api, Factory, FakeClock, Script, json_response

pytestmark = pytest.mark.anyio


def _choices(name: str) -> tuple[object, ...]:
    choices = input_fields()[name].choices
    assert choices is not None
    return choices


class TestLifecycle:
    async def test_submit_status_result_download(
        self, api: Api, emulator: Emulator, clock: FakeClock, tmp_path: Path
    ) -> None:
        """A submitted job is queued, runs, completes and its video downloads as an mp4."""
        size, seconds = _choices("size")[-1], _choices("seconds")[0]
        submission = await api.submit("a lighthouse at dawn", size=size, seconds=seconds)
        assert submission.status_url.endswith(f"/{submission.request_id}/status")

        status = await api.status(submission.request_id)
        assert status.state == "in_queue"
        assert status.queue_position == 0
        assert status.is_known and not status.is_terminal

        early = await api.result(submission.request_id)
        assert early.video_url is None and not early.is_completed

        queue, run = emulator.phase_durations(int(str(seconds)))
        clock.advance(queue + run + 1)
        result = await api.result(submission.request_id)
        assert result.state == "completed"
        assert result.video_url is not None and result.finished_at is not None
        assert {"video": result.video_url} == result.outputs

        (saved,) = await api.download(result, tmp_path / "out.mp4")
        assert tmp_path / "out.mp4" == saved
        assert saved.read_bytes()[4:8] == b"ftyp"

    async def test_generate(self, make_api: Factory, clock: FakeClock, tmp_path: Path) -> None:
        """generate() submits, waits through each state and returns the saved file (at half
        speed, the job is still queued at the first poll, a second after its submission)."""
        api = make_api(create_app(token=TOKEN, clock=clock.monotonic, speed=0.5))
        updates: list[str] = []
        submissions: list[str] = []
        (path,) = await api.generate(
            "Tokyo night market",
            out=tmp_path / "tokyo.mp4",
            on_update=lambda s: updates.append(s.state),
            on_submit=lambda s: submissions.append(s.request_id),
        )
        assert updates == ["in_queue", "in_progress", "completed"]
        assert len(submissions) == 1
        assert path.is_file() and path.stat().st_size > 0

    async def test_defaults_are_left_to_the_service(self, api: Api, emulator: Emulator) -> None:
        """An input not given (or NOT_GIVEN, or None) is not sent; the service applies the
        spec's default."""
        given = {name: NOT_GIVEN for name in input_fields() if name != PROMPT_INPUT}
        submission = await api.submit("defaults", **given)
        assert {PROMPT_INPUT: 1} == dict(emulator.stats.inputs)
        view = emulator.job(submission.request_id)
        assert view is not None
        for name, field in input_fields().items():
            if field.has_default:
                assert field.default == view.body[name]

    async def test_cancel_queued_then_conflict(self, api: Api, emulator: Emulator) -> None:
        """A queued job cancels; cancelling it again is a ConflictError with the job's id."""
        submission = await api.submit("cancel me")
        cancelled = await api.cancel(submission.request_id)
        assert cancelled.state == "cancelled" and cancelled.is_terminal
        with pytest.raises(ConflictError) as caught:
            await api.cancel(submission.request_id)
        assert caught.value.status_code == 409
        assert caught.value.error_code == 409001
        assert submission.request_id == caught.value.request_id
        assert caught.value.detail[0]["msg"] == "cancelled"

    async def test_what_a_call_returns_names_its_job_everywhere(
        self, api: Api, emulator: Emulator, tmp_path: Path
    ) -> None:
        """wait, status, result, cancel and download take a Submission, JobStatus or JobResult
        as well as the id: ``wait(submit(...))`` works."""
        submission = await api.submit("a lighthouse at dawn")
        queued = await api.status(submission)
        assert submission.request_id == queued.request_id
        assert queued.request_id == (await api.status(queued)).request_id
        final = await api.wait(submission)
        assert final.is_completed
        result = await api.result(final)
        assert submission.request_id == (await api.result(result)).request_id
        (saved,) = await api.download(final, tmp_path / "from-status.mp4")
        assert saved.stat().st_size > 0
        (again,) = await api.download(submission, tmp_path / "from-submission.mp4")
        assert saved.read_bytes() == again.read_bytes()
        other = await api.submit("cancel me")
        assert (await api.cancel(other)).is_cancelled

    @pytest.mark.parametrize("job", [42, None, b"req-1", ["req-1"]])
    async def test_anything_else_is_a_typed_error(
        self, api: Api, emulator: Emulator, job: object
    ) -> None:
        """Neither an id nor a job's value is refused as InvalidInputError naming request_id."""
        for call in (api.status, api.result, api.cancel, api.wait):
            with pytest.raises(InvalidInputError, match="Submission, JobStatus or JobResult") as e:
                await call(job)
            assert "request_id" == e.value.field
        assert 0 == sum(emulator.stats.requests.values())


class TestInputs:
    async def test_bad_size_is_refused_before_sending(self, api: Api, emulator: Emulator) -> None:
        """An unknown size raises InvalidInputError naming the field and the allowed values."""
        with pytest.raises(InvalidInputError) as caught:
            await api.submit("x", size="640x480")
        assert caught.value.field == "size"
        assert _choices("size") == caught.value.allowed
        assert emulator.stats.requests["submit"] == 0

    @pytest.mark.parametrize("request_id", ["", "   "])
    async def test_empty_request_id(self, api: Api, emulator: Emulator, request_id: str) -> None:
        """An empty request id is refused before it becomes a malformed URL."""
        with pytest.raises(InvalidInputError) as caught:
            await api.status(request_id)
        assert caught.value.field == "request_id"
        assert emulator.stats.requests["status"] == 0

    async def test_every_spec_choice_is_accepted(self, api: Api, emulator: Emulator) -> None:
        """Every size and duration the generated model lists is submitted as is."""
        for size in _choices("size"):
            for seconds in _choices("seconds"):
                submission = await api.submit("grid", size=size, seconds=seconds)
                view = emulator.job(submission.request_id)
                assert view is not None
                assert (size, seconds) == (view.body["size"], view.body["seconds"])


class TestErrors:
    @pytest.mark.parametrize(
        ("status", "error_code", "expected"),
        [
            (400, 400001, BadRequestError),
            (400, 400002, InsufficientBalanceError),
            (400, 400004, AuthenticationError),
            (401, 401001, AuthenticationError),
            (403, 403001, PermissionDeniedError),
            (404, 404001, NotFoundError),
            (409, 409001, ConflictError),
            (422, 422001, UnprocessableEntityError),
            (429, 429001, RateLimitError),
            (500, 500001, InternalServerError),
            (503, 503001, InternalServerError),
        ],
    )
    async def test_error_codes_map_to_classes(
        self, make_api: Factory, status: int, error_code: int, expected: type[Exception]
    ) -> None:
        """Each documented status and error_code raises its own class with the body's fields."""
        body = {"error_code": error_code, "message": "nope", "detail": [{"msg": "d"}]}
        script = Script().on("status", json_response(status, body, {"X-Request-Id": "ex-9"}))
        api = make_api(handler=script, max_retries=0)
        with pytest.raises(expected) as caught:
            await api.status("job-7")
        error = caught.value
        assert isinstance(error, sora2.APIStatusError)
        assert (status, error_code, "nope") == (error.status_code, error.error_code, error.message)
        assert error.request_id == "job-7"
        assert error.http_request_id == "ex-9"
        assert error.detail == [{"msg": "d"}]

    async def test_bad_token_is_authentication_error(
        self, make_api: Factory, emulator: Emulator
    ) -> None:
        """The emulator's 401 for a wrong token is an AuthenticationError."""
        api = make_api(emulator, api_key="wrong-token")
        with pytest.raises(AuthenticationError) as caught:
            await api.submit("x")
        assert caught.value.status_code == 401

    async def test_unknown_request_is_not_found(self, api: Api) -> None:
        """An unknown request id is a NotFoundError carrying that id."""
        with pytest.raises(NotFoundError) as caught:
            await api.status("no-such-job")
        assert caught.value.request_id == "no-such-job"

    @pytest.mark.parametrize(
        "response",
        [
            httpx.Response(200, text="<html>maintenance</html>"),
            httpx.Response(200, content=b"\xff\xfe not json"),
            httpx.Response(200, json=["a", "list"]),
            httpx.Response(200, json={"request_id": 5, "status": "in_queue"}),
            httpx.Response(200, json={"request_id": "r"}),
            httpx.Response(200, json={"request_id": "r", "status": None}),
            httpx.Response(200, json={"request_id": "r", "status": "x", "queue_position": "1"}),
            httpx.Response(204),
            httpx.Response(302, headers={"Location": "https://elsewhere.example"}),
        ],
        ids=[
            "html",
            "undecodable",
            "list",
            "int-id",
            "no-status",
            "null",
            "bad-type",
            "204",
            "302",
        ],
    )
    async def test_malformed_answers_are_validation_errors(
        self, make_api: Factory, response: httpx.Response
    ) -> None:
        """A status answer that breaks the spec is APIResponseValidationError, nothing rawer."""
        api = make_api(handler=Script().on("status", response))
        with pytest.raises(APIResponseValidationError) as caught:
            await api.status("r")
        assert caught.value.request_id == "r"

    async def test_error_status_with_html_body(self, make_api: Factory) -> None:
        """A 404 with an HTML page still maps by status, with the status phrase as message."""
        api = make_api(handler=Script().on("result", httpx.Response(404, text="<h1>gone</h1>")))
        with pytest.raises(NotFoundError) as caught:
            await api.result("r")
        assert caught.value.error_code is None
        assert caught.value.message == "Not Found"

    async def test_undocumented_error_status(self, make_api: Factory) -> None:
        """An undocumented 418 is a plain APIStatusError, and 599 an InternalServerError."""
        api = make_api(handler=Script().on("status", httpx.Response(418), httpx.Response(599)))
        with pytest.raises(sora2.APIStatusError) as caught:
            await api.status("r")
        assert type(caught.value) is sora2.APIStatusError
        with pytest.raises(InternalServerError):
            await api.status("r")

    async def test_result_with_bad_timestamp(self, make_api: Factory) -> None:
        """A completed result whose date-time does not parse is a validation error."""
        body = {
            "request_id": "r",
            "status": "completed",
            "output": {"video": "https://cdn.example/v.mp4"},
            "created_at": "yesterday",
        }
        api = make_api(handler=Script().on("result", json_response(200, body)))
        with pytest.raises(APIResponseValidationError):
            await api.result("r")

    async def test_extra_fields_and_states_are_carried(self, make_api: Factory) -> None:
        """New fields and an unknown state parse: the state is a string and not terminal."""
        state = "moderating"
        while state in known_states():  # unknown even after the spec gains a "moderating"
            state += "_new"
        body = {"request_id": "r", "status": state, "eta_seconds": 12}
        api = make_api(handler=Script().on("status", json_response(200, body)))
        status = await api.status("r")
        assert status.state == state
        assert not status.is_known and not status.is_terminal
        assert status.raw.additional_properties["eta_seconds"] == 12


class TestConfiguration:
    def test_missing_key_fails_at_first_call(self, clock: FakeClock) -> None:
        """Without a key, construction works and the first call names both variables."""
        client = Client(journal=False)
        with pytest.raises(ConfigurationError) as caught:
            client.status("r")
        assert "RUNCOMFY_API_TOKEN" in str(caught.value)
        assert "YOUR_API_TOKEN" in str(caught.value)
        client.close()

    def test_key_from_environment(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """RUNCOMFY_API_TOKEN wins over YOUR_API_TOKEN; either is enough."""
        seen: list[str] = []

        def handler(request: httpx.Request) -> httpx.Response:
            seen.append(request.headers["authorization"])
            return json_response(200, {"request_id": "r", "status": "in_queue"})

        monkeypatch.setenv("YOUR_API_TOKEN", "from-docs")
        with Client(transport=httpx.MockTransport(handler), journal=False) as client:
            client.status("r")
        monkeypatch.setenv("RUNCOMFY_API_TOKEN", "from-runcomfy")
        with Client(transport=httpx.MockTransport(handler), journal=False) as client:
            client.status("r")
        assert seen == ["Bearer from-docs", "Bearer from-runcomfy"]

    def test_runcomfy_cli_token_comes_between(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """RUNCOMFY_TOKEN is read after RUNCOMFY_API_TOKEN and before YOUR_API_TOKEN."""
        seen: list[str] = []

        def handler(request: httpx.Request) -> httpx.Response:
            seen.append(request.headers["authorization"])
            return json_response(200, {"request_id": "r", "status": "in_queue"})

        monkeypatch.setenv("YOUR_API_TOKEN", "from-docs")
        monkeypatch.setenv("RUNCOMFY_TOKEN", "from-cli")
        with Client(transport=httpx.MockTransport(handler), journal=False) as client:
            client.status("r")
        monkeypatch.setenv("RUNCOMFY_API_TOKEN", "from-runcomfy")
        with Client(transport=httpx.MockTransport(handler), journal=False) as client:
            client.status("r")
        assert ["Bearer from-cli", "Bearer from-runcomfy"] == seen

    def test_base_url_precedence(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """base_url argument, then RUNCOMFY_BASE_URL, then the spec's server."""
        assert server_url() == Client(journal=False).base_url
        monkeypatch.setenv("RUNCOMFY_BASE_URL", "https://staging.example/")
        assert Client(journal=False).base_url == "https://staging.example"
        assert (
            Client(base_url="https://arg.example", journal=False).base_url == "https://arg.example"
        )

    def test_plain_http_to_a_remote_host_is_refused(self) -> None:
        """The token is never sent over plain http to a non-loopback host."""
        with pytest.raises(ConfigurationError):
            Client(api_key=TOKEN, base_url="http://api.example.com", journal=False)
        Client(api_key=TOKEN, base_url="http://127.0.0.1:9", journal=False).close()

    @pytest.mark.parametrize(
        "options",
        [
            {"max_retries": -1},
            {"wait_timeout": -1.0},
            {"max_download_bytes": 0},
            {"base_url": "ftp://x"},
        ],
    )
    def test_bad_options(self, options: dict[str, object]) -> None:
        """Unusable options are a ConfigurationError at construction."""
        with pytest.raises(ConfigurationError):
            Client(journal=False, **options)  # type: ignore[arg-type]

    async def test_with_options_copies_and_shares(
        self, make_api: Factory, emulator: Emulator
    ) -> None:
        """with_options changes one setting, keeps the rest, and reaches the same service."""
        api = make_api(emulator)
        copy = api.client.with_options(max_retries=0, wait_timeout=5.0)
        assert (copy.max_retries, copy.wait_timeout) == (0, 5.0)
        assert api.client.base_url == copy.base_url
        assert api.client.max_retries != copy.max_retries
        submission = await api.submit("shared")
        assert (await Api(copy).status(submission.request_id)).state == "in_queue"
        await Api(copy).close()
        assert (await api.status(submission.request_id)).state == "in_queue"
        with pytest.raises(TypeError):
            api.client.with_options(colour="blue")

    def test_sync_and_async_surfaces_match(self) -> None:
        """Client and AsyncClient offer the same public methods with the same parameters."""
        import inspect

        def surface(cls: type) -> dict[str, list[str]]:
            return {
                name: list(inspect.signature(member).parameters)
                for name, member in inspect.getmembers(cls, inspect.isfunction)
                if not name.startswith("_")
            }

        assert surface(Client) == surface(AsyncClient)
        for name in ("submit", "status", "result", "cancel", "wait", "download", "generate"):
            assert inspect.iscoroutinefunction(getattr(AsyncClient, name))

    def test_public_names(self) -> None:
        """The clients are exported lazily from the package."""
        assert sora2.Client is Client and sora2.AsyncClient is AsyncClient


class TestEmulatorMode:
    def test_sync_generate_offline(self, tmp_path: Path) -> None:
        """emulator=True needs no key and no network, and keeps its own journal file."""
        with Client(emulator=True, journal=tmp_path / "demo.sqlite3", _clock=FakeClock()) as client:
            (path,) = client.generate("demo", out=tmp_path / "demo.mp4")
            assert path.stat().st_size > 0
            assert "http://" in repr(client) and TOKEN not in repr(client)

    async def test_async_generate_offline(self, tmp_path: Path) -> None:
        """The async client reaches the in-process emulator the same way."""
        async with AsyncClient(emulator=True, journal=False, _clock=FakeClock()) as client:
            (path,) = await client.generate("demo", out=tmp_path / "demo.mp4")
            assert path.stat().st_size > 0

    def test_emulator_has_its_own_default_journal(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Without SORA2_JOURNAL, emulator jobs go to journal-emulator.sqlite3."""
        monkeypatch.delenv("SORA2_JOURNAL")
        real = Client(journal=None)
        demo = Client(emulator=True, journal=None)
        assert real.journal is not None and demo.journal is not None
        assert real.journal.path.name == "journal.sqlite3"
        assert demo.journal.path.name == "journal-emulator.sqlite3"
        assert real.journal.path.parent == demo.journal.path.parent
        real.close()
        demo.close()

    def test_missing_extra_names_the_install_command(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Without the emulator's packages, emulator=True says how to install them."""
        import sys

        import sora2.emulator

        monkeypatch.delattr(sora2.emulator, "create_app", raising=False)
        monkeypatch.delitem(sys.modules, "sora2.emulator._app", raising=False)
        for name in [m for m in sys.modules if m == "starlette" or m.startswith("starlette.")]:
            monkeypatch.setitem(sys.modules, name, None)  # as if the extra were missing
        with pytest.raises(ConfigurationError, match=r"-m pip install .*\[emulator\]"):
            Client(emulator=True, journal=False)

    def test_emulator_and_transport_conflict(self) -> None:
        """Passing both emulator=True and a transport is a configuration error."""
        with pytest.raises(ConfigurationError):
            Client(emulator=True, transport=httpx.MockTransport(lambda r: httpx.Response(200)))
