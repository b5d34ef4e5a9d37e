"""Output shapes: the emulator fills the documented output fields it is told to, with real files;
and its ``submit:fail`` fault makes jobs that end failed."""

from __future__ import annotations

import io
import subprocess
import sys
from typing import Any

import av
import httpx
import pytest

from sora2 import InvalidInputError
from sora2._types import FAILED, output_fields, state_outcomes
from sora2.emulator import SyncASGITransport, create_app, parse_faults, parse_size
from sora2.emulator._constants import DEFAULT_OUTPUTS, OUTPUT_LIST_LENGTH
from sora2.emulator._outputs import OTHER_MEDIA, field_is_list, media_of

from .helpers import BASE_URL, FakeClock, assert_conforms, client_for, default, path_of, submit

FIELDS = [name for name, _ in output_fields()]


def _finished(outputs: Any = DEFAULT_OUTPUTS, faults: str | None = None) -> dict[str, Any]:
    """The result body of one job run to its end on an emulator of this shape."""
    clock = FakeClock()
    app = create_app(clock=clock, outputs=outputs, faults=faults)
    anonymous = httpx.Client(transport=SyncASGITransport(app), base_url=BASE_URL)
    with client_for(app) as http, anonymous:
        request_id = submit(http)
        clock.advance(1_000)
        response = http.get(path_of("result", request_id))
        assert_conforms("result", response)
        status = http.get(path_of("status", request_id))
        assert_conforms("status", status)
        body: dict[str, Any] = response.json()
        body["_status"] = status.json()
        body["_files"] = {
            url: anonymous.get(url)
            for value in body.get("output", {}).values()
            for url in (value if isinstance(value, list) else [value])
        }
        return body


class TestShapes:
    def test_default_shape_is_video_only(self) -> None:
        """By default a completed job fills exactly the DEFAULT_OUTPUTS fields."""
        assert DEFAULT_OUTPUTS.split(",") == list(_finished()["output"])

    @pytest.mark.parametrize("name", FIELDS)
    def test_each_documented_field_can_be_served(self, name: str) -> None:
        """Every documented output field can be the shape, as a URL or a list of them."""
        body = _finished(outputs=name)
        value = body["output"][name]
        if field_is_list(name):
            assert isinstance(value, list) and OUTPUT_LIST_LENGTH == len(set(value))
        else:
            assert isinstance(value, str)

    def test_every_file_is_a_real_file_of_its_kind(self) -> None:
        """Each image URL serves a PNG, each video URL an MP4, at the requested size; a field
        of any other kind (none in the spec) serves bytes, a PNG still as octet-stream."""
        body = _finished(outputs=",".join(FIELDS))
        kinds = dict(output_fields())
        width, height = parse_size(default("size"))
        for name, value in body["output"].items():
            for url in value if isinstance(value, list) else [value]:
                response = body["_files"][url]
                assert 200 == response.status_code
                assert media_of(kinds[name])[1] == response.headers["content-type"]
                with av.open(io.BytesIO(response.content)) as container:
                    stream = container.streams.video[0]
                    assert (width, height) == (
                        stream.codec_context.width,
                        stream.codec_context.height,
                    )

    def test_a_field_of_no_kind_is_served_as_bytes(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """A documented output field without x-output-kind (as a field synced from upstream
        arrives) can be the shape: its URL serves bytes as .bin, application/octet-stream."""
        import sora2._types as outputs

        documented = outputs._documented()
        name = "zz_preview"
        while name in FIELDS:
            name += "_"
        extra = ((name, None, "A preview of the result."),)
        monkeypatch.setattr(outputs, "_documented", lambda: documented + extra)
        outputs.output_fields.cache_clear()
        try:
            body = _finished(outputs=f"{FIELDS[0]},{name}")
        finally:
            monkeypatch.undo()
            outputs.output_fields.cache_clear()
        url = body["output"][name]
        assert url.endswith(f"/{name}.{OTHER_MEDIA[0]}")
        response = body["_files"][url]
        assert (200, OTHER_MEDIA[1]) == (response.status_code, response.headers["content-type"])
        assert response.content

    def test_unknown_fields_are_refused(self) -> None:
        """An output field the spec does not document is an InvalidInputError naming it."""
        with pytest.raises(InvalidInputError) as caught:
            create_app(outputs="hologram")
        assert "outputs" == caught.value.field and set(FIELDS) == set(caught.value.allowed or ())

    def test_shape_can_change_at_run_time(self) -> None:
        """``app.outputs = ...`` changes what the next results carry."""
        app = create_app()
        app.outputs = FIELDS[-1]
        assert (FIELDS[-1],) == app.outputs

    def test_cli_flag_picks_the_shape_and_refuses_bad_ones(self) -> None:
        """``sora2 emulator --outputs`` with an undocumented field exits 2 naming the option."""
        done = subprocess.run(
            [sys.executable, "-m", "sora2", "emulator", "--outputs", "hologram"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert 2 == done.returncode
        assert "--outputs" in done.stderr and "Traceback" not in done.stderr


class TestFailFault:
    def test_a_failed_job_has_a_failed_state_and_an_error(self) -> None:
        """submit:fail makes the job end in the spec's failed state, with an error, no output."""
        body = _finished(faults="submit:fail")
        assert FAILED == state_outcomes()[body["status"]]
        assert "output" not in body and body["error"]["message"]
        assert body["_status"]["error"] == body["error"]

    def test_fail_applies_to_submit_only(self) -> None:
        """A fail rule on another target is refused by the grammar."""
        with pytest.raises(InvalidInputError, match="submit"):
            parse_faults("status:fail")

    def test_triggers_pick_which_jobs_fail(self) -> None:
        """submit:fail@every=2 fails every second job and completes the others."""
        clock = FakeClock()
        app = create_app(clock=clock, faults="submit:fail@every=2")
        with client_for(app) as http:
            ids = [submit(http) for _ in range(4)]
            clock.advance(1_000)
            outcomes = [
                state_outcomes()[http.get(path_of("status", i)).json()["status"]] for i in ids
            ]
        assert [o == FAILED for o in outcomes] == [False, True, False, True]
