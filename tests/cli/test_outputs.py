"""``sora2 result`` and ``sora2 generate`` show and save every output file; a failed job has
its own exit code."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sora2 import Client
from sora2._cli import EXIT_FAILED, _common
from sora2._cli._common import Settings
from sora2._types import FAILED, output_fields, state_outcomes
from sora2.emulator import SyncASGITransport, create_app, serve

from .helpers import BASE_URL, TOKEN, FakeClock, documented_prompt, run

ALL_FIELDS = ",".join(name for name, _ in output_fields())


def _one_json(stdout: str) -> dict[str, Any]:
    lines = [line for line in stdout.splitlines() if line.strip()]
    assert 1 == len(lines), stdout
    value: dict[str, Any] = json.loads(lines[0])
    return value


@pytest.fixture
def shaped(clock: FakeClock, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """``--emulator`` commands get an in-process emulator with the options in the dict."""
    options: dict[str, Any] = {}

    def make_client(settings: Settings) -> Client:
        app = create_app(clock=clock.monotonic, **options)
        return Client(
            api_key="emulator",
            base_url=BASE_URL,
            transport=SyncASGITransport(app),
            journal=settings.journal_option,
            _clock=clock,
        )

    monkeypatch.setattr(_common, "make_client", make_client)
    return options


@pytest.fixture
def every_output_server(fake_time: FakeClock) -> Iterator[str]:
    """A real emulator over HTTP that fills every documented output field."""
    app = create_app(clock=fake_time.monotonic, token=TOKEN, outputs=ALL_FIELDS)
    with serve(app) as url:
        yield url


class TestResult:
    def test_result_prints_every_file_in_text_and_json(
        self, every_output_server: str, token: str, fake_time: FakeClock, isolated: Path
    ) -> None:
        """result lists one KIND: URL line per file, the JSON has them all, --out saves them."""
        submitted = run("submit", documented_prompt(), "--base-url", every_output_server)
        request_id = submitted.stdout.strip()
        fake_time.advance(3600)
        text = run("result", request_id, "--base-url", every_output_server)
        assert 0 == text.exit_code, text.stderr
        done = run("result", request_id, "--base-url", every_output_server, "--out", "d/", "--json")
        assert 0 == done.exit_code, done.stderr
        payload = _one_json(done.stdout)
        files = payload["files"]
        assert [name for name, _ in output_fields()] == list(
            dict.fromkeys(item["field"] for item in files)
        )
        for item in files:
            assert f"{item['kind']}: {item['url']}" in text.stdout.splitlines()
        assert len(files) == len(payload["paths"])
        assert all((isolated / "d" / Path(p).name).stat().st_size > 0 for p in payload["paths"])

    def test_out_with_a_trailing_slash_saves_inside_a_new_folder(
        self, server: str, token: str, fake_time: FakeClock, isolated: Path
    ) -> None:
        """``result ID --out resdir/`` creates resdir and saves the file inside it, named after
        the job; an existing directory without the slash does the same."""
        request_id = run("submit", documented_prompt(), "--base-url", server).stdout.strip()
        fake_time.advance(3600)
        for out, folder in (("resdir/", "resdir"), ("resdir", "resdir")):
            done = run("result", request_id, "--base-url", server, "--out", out, "--json")
            assert 0 == done.exit_code, done.stderr
            (path,) = _one_json(done.stdout)["paths"]
            assert isolated / folder == Path(path).parent
            assert request_id == Path(path).stem
        assert [p.name for p in (isolated / "resdir").iterdir()] == [Path(path).name]


class TestGenerate:
    def test_generate_prints_every_saved_path(self, shaped: dict[str, Any], isolated: Path) -> None:
        """generate saves every file of a many-file job and prints one saved: line each."""
        shaped["outputs"] = ALL_FIELDS
        done = run("generate", documented_prompt(), "--emulator", "--out", "clip.mp4", "--json")
        assert 0 == done.exit_code, done.stderr
        paths = _one_json(done.stdout)["paths"]
        assert len(paths) > 1
        assert [f"clip-{i}" for i in range(1, len(paths) + 1)] == [Path(p).stem for p in paths]
        assert all(Path(p).stat().st_size > 0 for p in paths)

    @pytest.mark.parametrize("out", ["gen/", "new/gen/"])
    def test_out_with_a_trailing_slash_saves_inside_it(
        self, shaped: dict[str, Any], isolated: Path, out: str
    ) -> None:
        """``generate --out gen/`` saves inside gen (created), named after the job."""
        done = run("generate", documented_prompt(), "--emulator", "--out", out, "--json")
        assert 0 == done.exit_code, done.stderr
        payload = _one_json(done.stdout)
        assert (isolated / out / payload["request_id"]).with_suffix(".mp4") == Path(payload["path"])

    def test_a_failed_job_exits_with_its_own_code(self, shaped: dict[str, Any]) -> None:
        """generate of a job that fails exits EXIT_FAILED with the service's reason."""
        shaped["faults"] = "submit:fail"
        done = run("generate", documented_prompt(), "--emulator")
        assert EXIT_FAILED == done.exit_code
        failed = [s for s, o in state_outcomes().items() if o == FAILED]
        assert any(f" {state}: " in done.stderr for state in failed)


def test_result_of_a_failed_job_exits_failed_and_shows_the_error(
    fake_time: FakeClock, token: str
) -> None:
    """result of a failed job prints its state and error, and exits EXIT_FAILED."""
    app = create_app(clock=fake_time.monotonic, token=TOKEN, faults="submit:fail")
    with serve(app) as url:
        request_id = run("submit", documented_prompt(), "--base-url", url).stdout.strip()
        fake_time.advance(3600)
        done = run("result", request_id, "--base-url", url, "--json")
    assert EXIT_FAILED == done.exit_code
    payload = _one_json(done.stdout)
    assert FAILED == state_outcomes()[payload["state"]] and payload["error"]["message"]
