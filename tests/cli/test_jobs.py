"""The job commands through ``sora2._cli.main``, against in-process and HTTP emulators."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from sora2 import Client
from sora2._cli import (
    EXIT_CANCELLED,
    EXIT_CONFIG,
    EXIT_ERROR,
    EXIT_INTERRUPTED,
    EXIT_NOT_READY,
    EXIT_TIMEOUT,
    EXIT_USAGE,
)
from sora2._inputs import PROMPT_INPUT, input_fields

from .helpers import (
    TOKEN,
    FakeClock,
    as_args,
    choice_options,
    choices,
    documented_prompt,
    run,
)

PROMPT = documented_prompt()
COMMANDS = ("generate", "submit", "status", "result", "cancel", "jobs", "resume")


def journal_rows(path: Path) -> list[sqlite3.Row]:
    if not path.exists():
        return []
    with sqlite3.connect(path) as conn:
        conn.row_factory = sqlite3.Row
        return conn.execute("SELECT * FROM jobs").fetchall()


def one_json(stdout: str) -> dict[str, Any]:
    """stdout holds exactly one JSON object and nothing else."""
    lines = [line for line in stdout.splitlines() if line.strip()]
    assert len(lines) == 1, stdout
    value = json.loads(lines[0])
    assert isinstance(value, dict)
    return value


def server_state(url: str, request_id: str, clock: FakeClock) -> str:
    with Client(TOKEN, base_url=url, journal=False, _clock=clock) as client:
        return client.status(request_id).state


def submit_one(url: str) -> str:
    submitted = run("submit", PROMPT, "--base-url", url)
    assert submitted.exit_code == 0, submitted.stderr
    return submitted.stdout.strip()


class TestHelp:
    @pytest.mark.parametrize("command", COMMANDS)
    def test_every_command_has_help(self, command: str) -> None:
        """Each job command answers --help with exit 0 and lists the shared options."""
        result = run(command, "--help")
        assert result.exit_code == 0
        for option in ("--base-url", "--json", "--emulator", "--journal"):
            assert option in result.stdout

    @pytest.mark.parametrize("command", ["generate", "submit"])
    def test_every_input_of_the_spec_is_an_option(self, command: str) -> None:
        """Each input property but the prompt is a --kebab-case option: its choices, title and
        default (shown, not sent) come from the spec."""
        result = run(command, "--help")
        text = " ".join(result.stdout.split())
        for name, field in input_fields().items():
            if name == PROMPT_INPUT:
                continue
            flag = "--" + name.replace("_", "-")
            if field.choices is not None:
                listed = "|".join(str(c) for c in field.choices)
                assert f"{flag} [{listed}]" in text
            else:
                assert flag in text
            if field.title:
                assert field.title in text
            if field.has_default:
                default = field.default
                shown = default if isinstance(default, str) else json.dumps(default)
                assert f"[default: {shown}]" in text
        assert "--input KEY=VALUE" in text
        assert "--input-file FILE" in text


class TestGenerate:
    def test_in_process_emulator_end_to_end(self, fake_time: FakeClock, isolated: Path) -> None:
        """generate --emulator prints the id, then saves ./ID.mp4 and prints its path."""
        result = run("generate", "--emulator", PROMPT)
        assert result.exit_code == 0, result.stderr
        first, last = result.stdout.splitlines()
        request_id = first.removeprefix("request_id: ")
        saved = isolated / f"{request_id}.mp4"
        assert f"saved: {saved}" == last
        assert saved.stat().st_size > 0
        assert "completed" in result.stderr

    def test_json_is_one_object_and_progress_stays_on_stderr(
        self, fake_time: FakeClock, isolated: Path
    ) -> None:
        """--json prints one object on stdout, with exactly the inputs given; the id and the
        progress go to stderr."""
        given = dict(list(choice_options().items())[:1])
        result = run("generate", "--emulator", PROMPT, *as_args(given), "--json")
        assert result.exit_code == 0, result.stderr
        payload = one_json(result.stdout)
        assert payload["state"] == "completed"
        assert given == payload["inputs"]
        assert Path(payload["path"]).is_file()
        assert f"request_id: {payload['request_id']}" in result.stderr
        assert "in_progress" in result.stderr

    def test_options_reach_the_service_in_the_models_types(
        self, fake_time: FakeClock, isolated: Path, tmp_path: Path
    ) -> None:
        """Every choice option is sent as the model's type (an int, not "8"), and nothing
        that was not given is sent."""
        given = choice_options()
        result = run("generate", "--emulator", PROMPT, *as_args(given), "--out", "clip.mp4")
        assert result.exit_code == 0, result.stderr
        assert (isolated / "clip.mp4").is_file()
        (row,) = journal_rows(tmp_path / "journal.sqlite3")
        assert given == json.loads(row["params"])

    def test_bad_size_lists_the_allowed_values(self, tmp_path: Path) -> None:
        """An unknown --size is a usage error naming every allowed size; nothing is sent."""
        result = run("generate", "--emulator", PROMPT, "--size", "1x1")
        assert result.exit_code == EXIT_USAGE
        for size in choices("size"):
            assert str(size) in result.stderr
        assert journal_rows(tmp_path / "journal.sqlite3") == []
        assert "Traceback" not in result.output

    def test_bad_seconds_is_a_usage_error(self) -> None:
        """A --seconds outside the model's choices is refused with the allowed values."""
        result = run("generate", "--emulator", PROMPT, "--seconds", "7")
        assert result.exit_code == EXIT_USAGE
        for seconds in choices("seconds"):
            assert str(seconds) in result.stderr

    def test_wait_timeout_has_its_own_exit_code(self, server: str, token: str) -> None:
        """A --timeout reached before the end exits 3 and says how to resume."""
        result = run("generate", PROMPT, "--base-url", server, "--timeout", "0.5")
        assert result.exit_code == EXIT_TIMEOUT
        request_id = result.stdout.splitlines()[0].removeprefix("request_id: ")
        assert f"sora2 resume {request_id} --base-url {server}" in result.stderr
        assert len(result.stderr.strip().splitlines()[-1:]) == 1

    def test_a_job_cancelled_elsewhere_exits_cancelled(
        self, server: str, token: str, fake_time: FakeClock, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """When the job is cancelled by someone else while we wait, generate exits 6."""
        from sora2._cli._progress import Progress

        original = Progress.submitted

        def submitted(self: Progress, request_id: str, state: str = "in_queue") -> None:
            original(self, request_id, state)
            with Client(TOKEN, base_url=server, journal=False, _clock=fake_time) as other:
                other.cancel(request_id)

        monkeypatch.setattr(Progress, "submitted", submitted)
        result = run("generate", PROMPT, "--base-url", server)
        assert result.exit_code == EXIT_CANCELLED
        assert "was cancelled; there is no video" in result.stderr


class TestInputFile:
    @pytest.mark.parametrize("command", ["generate", "submit"])
    def test_the_file_holds_the_whole_body(
        self, fake_time: FakeClock, isolated: Path, command: str
    ) -> None:
        """generate and submit send the prompt of --input-file when PROMPT is left out; the
        journal records it."""
        given = dict(list(choice_options().items())[:1])
        body = isolated / "body.json"
        body.write_text(json.dumps({PROMPT_INPUT: PROMPT, **given}), encoding="utf-8")
        result = run(command, "--emulator", "--input-file", str(body), "--json")
        assert 0 == result.exit_code, result.stderr
        payload = one_json(result.stdout)
        assert given == payload["inputs"]
        jobs = one_json(run("jobs", "--emulator", "--json").stdout)["jobs"]
        assert [PROMPT] == [job["prompt"] for job in jobs]

    def test_prompt_wins_over_the_file(self, fake_time: FakeClock, isolated: Path) -> None:
        """PROMPT and a file prompt both given: PROMPT is sent and stderr says it won."""
        body = isolated / "body.json"
        body.write_text(json.dumps({PROMPT_INPUT: "the file's prompt"}), encoding="utf-8")
        result = run("submit", "--emulator", PROMPT, "--input-file", str(body))
        assert 0 == result.exit_code, result.stderr
        assert "PROMPT argument wins" in result.stderr
        jobs = one_json(run("jobs", "--emulator", "--json").stdout)["jobs"]
        assert [PROMPT] == [job["prompt"] for job in jobs]

    def test_no_prompt_at_all_is_a_usage_error(self, fake_time: FakeClock) -> None:
        """Without PROMPT or a file prompt nothing is submitted and the exit code is 2."""
        result = run("submit", "--emulator", "--input-file", "-", input="{}")
        assert EXIT_USAGE == result.exit_code
        assert "PROMPT" in result.stderr


class TestInterrupt:
    def test_queued_without_terminal_cancels_without_asking(
        self,
        server: str,
        token: str,
        fake_time: FakeClock,
        interrupt_when: Callable[[str | None], None],
    ) -> None:
        """Ctrl-C while queued and no terminal to ask: the job is cancelled, exit 130."""
        interrupt_when("in_queue")
        result = run("generate", PROMPT, "--base-url", server)
        assert result.exit_code == EXIT_INTERRUPTED
        request_id = result.stdout.splitlines()[0].removeprefix("request_id: ")
        assert f"cancelled {request_id}." in result.stderr
        assert "?" not in result.stderr  # nobody was asked
        assert server_state(server, request_id, fake_time) == "cancelled"

    @pytest.mark.parametrize(("answer", "expected"), [("y\n", "cancelled"), ("n\n", "in_queue")])
    def test_queued_at_a_terminal_asks_first(
        self,
        answer: str,
        expected: str,
        server: str,
        token: str,
        fake_time: FakeClock,
        interrupt_when: Callable[[str | None], None],
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """Ctrl-C while queued at a terminal asks; the answer decides whether it is cancelled."""
        from sora2._cli import _jobs

        monkeypatch.setattr(_jobs, "_stdin_is_tty", lambda: True)
        interrupt_when("in_queue")
        result = run("generate", PROMPT, "--base-url", server, input=answer)
        assert result.exit_code == EXIT_INTERRUPTED
        request_id = result.stdout.splitlines()[0].removeprefix("request_id: ")
        assert "Cancel it?" in result.stderr
        assert expected == server_state(server, request_id, fake_time)
        if expected == "in_queue":
            assert f"sora2 resume {request_id} --base-url {server}" in result.stderr

    def test_cancel_on_interrupt_does_not_ask(
        self,
        server: str,
        token: str,
        fake_time: FakeClock,
        interrupt_when: Callable[[str | None], None],
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """--cancel-on-interrupt cancels a queued job even at a terminal, without a question."""
        from sora2._cli import _jobs

        monkeypatch.setattr(_jobs, "_stdin_is_tty", lambda: True)
        interrupt_when("in_queue")
        result = run("generate", PROMPT, "--base-url", server, "--cancel-on-interrupt")
        assert result.exit_code == EXIT_INTERRUPTED
        request_id = result.stdout.splitlines()[0].removeprefix("request_id: ")
        assert "Cancel it?" not in result.stderr
        assert server_state(server, request_id, fake_time) == "cancelled"

    def test_in_progress_says_it_cannot_be_cancelled_and_how_to_resume(
        self,
        server: str,
        token: str,
        fake_time: FakeClock,
        interrupt_when: Callable[[str | None], None],
    ) -> None:
        """Ctrl-C in progress: not cancelled, the exact resume command is printed, exit 130."""
        interrupt_when("in_progress")
        result = run("generate", PROMPT, "--base-url", server)
        assert result.exit_code == EXIT_INTERRUPTED
        request_id = result.stdout.splitlines()[0].removeprefix("request_id: ")
        assert "cannot be cancelled" in result.stderr
        assert f"sora2 resume {request_id} --base-url {server}" in result.stderr
        assert server_state(server, request_id, fake_time) == "in_progress"

    def test_resume_after_interrupt_finishes_the_download(
        self,
        server: str,
        token: str,
        fake_time: FakeClock,
        interrupt_when: Callable[[str | None], None],
        isolated: Path,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """A generate stopped in progress is finished by resume, to the path it meant to use."""
        interrupt_when("in_progress")
        stopped = run("generate", PROMPT, "--base-url", server, "--out", "night.mp4")
        assert stopped.exit_code == EXIT_INTERRUPTED
        interrupt_when(None)
        unfinished = run("jobs", "--unfinished", "--json")
        assert len(one_json(unfinished.stdout)["jobs"]) == 1
        resumed = run("resume", "--base-url", server)
        assert resumed.exit_code == 0, resumed.stderr
        assert (isolated / "night.mp4").is_file()
        assert str(isolated / "night.mp4") in resumed.stdout
        assert one_json(run("jobs", "--unfinished", "--json").stdout)["jobs"] == []

    def test_json_on_interrupt_is_one_object(
        self,
        server: str,
        token: str,
        interrupt_when: Callable[[str | None], None],
    ) -> None:
        """With --json an interrupted generate still prints one object saying what happened."""
        interrupt_when("in_progress")
        result = run("generate", PROMPT, "--base-url", server, "--json")
        assert result.exit_code == EXIT_INTERRUPTED
        payload = one_json(result.stdout)
        assert {k: payload[k] for k in ("interrupted", "cancelled", "state")} == {
            "interrupted": True,
            "cancelled": False,
            "state": "in_progress",
        }


class TestLifecycleOverHttp:
    def test_submit_status_cancel_result(
        self, server: str, token: str, fake_time: FakeClock
    ) -> None:
        """submit prints an id; status shows it queued; cancel cancels; result then exits 6."""
        request_id = submit_one(server)
        status = run("status", request_id, "--base-url", server, "--json")
        assert status.exit_code == 0
        assert one_json(status.stdout)["state"] == "in_queue"
        cancelled = run("cancel", request_id, "--base-url", server)
        assert cancelled.exit_code == 0
        assert f"{request_id}  cancelled" == cancelled.stdout.strip()
        result = run("result", request_id, "--base-url", server, "--json")
        assert result.exit_code == EXIT_CANCELLED
        assert one_json(result.stdout)["state"] == "cancelled"

    def test_result_before_and_after_completion(
        self, server: str, token: str, fake_time: FakeClock, isolated: Path
    ) -> None:
        """result exits 5 while the job runs, then prints the video URL and downloads it."""
        request_id = submit_one(server)
        early = run("result", request_id, "--base-url", server)
        assert early.exit_code == EXIT_NOT_READY
        assert "not finished yet" in early.stderr
        fake_time.advance(3600)
        done = run("result", request_id, "--base-url", server, "--out", "out.mp4", "--json")
        assert done.exit_code == 0, done.stderr
        payload = one_json(done.stdout)
        assert payload["state"] == "completed"
        assert payload["video_url"].startswith(server)
        assert str(isolated / "out.mp4") == payload["path"]
        assert (isolated / "out.mp4").stat().st_size > 0

    def test_cancel_in_progress_is_refused(
        self, server: str, token: str, fake_time: FakeClock
    ) -> None:
        """Cancelling a job that has started fails with one line and exit 1."""
        request_id = submit_one(server)
        fake_time.advance(1.5)
        assert server_state(server, request_id, fake_time) == "in_progress"
        result = run("cancel", request_id, "--base-url", server)
        assert result.exit_code == EXIT_ERROR
        assert len(result.stderr.strip().splitlines()) == 1
        assert "409" in result.stderr

    def test_unknown_id_is_one_line(self, server: str, token: str) -> None:
        """An unknown request id fails with exit 1 and one line naming the 404."""
        result = run("status", "no-such-job", "--base-url", server)
        assert result.exit_code == EXIT_ERROR
        assert result.stderr.startswith("sora2: error: 404")
        assert len(result.stderr.strip().splitlines()) == 1

    def test_base_url_from_the_environment(
        self, server: str, token: str, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Without --base-url, RUNCOMFY_BASE_URL says where the service is."""
        request_id = submit_one(server)
        monkeypatch.setenv("RUNCOMFY_BASE_URL", server)
        result = run("status", request_id)
        assert result.exit_code == 0, result.stderr
        assert result.stdout.startswith(f"{request_id}  in_queue")

    def test_documented_token_variable_works(
        self, server: str, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """YOUR_API_TOKEN, the documentation's name, is read when RUNCOMFY_API_TOKEN is unset."""
        monkeypatch.setenv("YOUR_API_TOKEN", TOKEN)
        result = run("submit", PROMPT, "--base-url", server)
        assert result.exit_code == 0, result.stderr

    def test_missing_token_names_both_variables(self, server: str) -> None:
        """No token: exit 4 and one line naming both variables, never a traceback."""
        result = run("submit", PROMPT, "--base-url", server)
        assert result.exit_code == EXIT_CONFIG
        assert "RUNCOMFY_API_TOKEN" in result.stderr
        assert "YOUR_API_TOKEN" in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
        assert result.stdout == ""

    def test_missing_token_says_how_to_give_it_on_the_command_line(self, server: str) -> None:
        """The CLI's missing-token line names the environment variables and --emulator, not
        the library's ``api_key=`` keyword."""
        result = run("status", "x", "--base-url", server)
        assert EXIT_CONFIG == result.exit_code
        assert "api_key" not in result.stderr
        assert "set RUNCOMFY_API_TOKEN (or RUNCOMFY_TOKEN or YOUR_API_TOKEN)" in result.stderr
        assert "--emulator" in result.stderr

    def test_a_refused_connection_names_host_and_port(self, token: str) -> None:
        """Nothing listening: the one error line says where the connection was refused."""
        result = run("status", "x", "--base-url", "http://127.0.0.1:1")
        assert EXIT_ERROR == result.exit_code
        assert "status failed: cannot connect to 127.0.0.1:1:" in result.stderr
        assert 1 == len(result.stderr.strip().splitlines())

    def test_wrong_token_is_an_auth_error(
        self, server: str, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A token the service refuses: exit 1, the 401 in one line."""
        monkeypatch.setenv("RUNCOMFY_API_TOKEN", "not-the-token")
        result = run("submit", PROMPT, "--base-url", server)
        assert result.exit_code == EXIT_ERROR
        assert result.stderr.startswith("sora2: error: 401")

    def test_unusable_base_url_is_a_configuration_error(self, token: str) -> None:
        """A base URL that is not http(s) exits 4 with one line."""
        result = run("status", "x", "--base-url", "ftp://example.invalid")
        assert result.exit_code == EXIT_CONFIG
        assert len(result.stderr.strip().splitlines()) == 1


class TestInProcessEmulatorScope:
    def test_submit_uses_the_real_in_process_emulator(self) -> None:
        """submit --emulator needs no token and no network (the real emulator=True path)."""
        result = run("submit", "--emulator", PROMPT, "--json")
        assert result.exit_code == 0, result.stderr
        assert one_json(result.stdout)["request_id"]

    def test_submit_says_its_job_ends_with_the_command(self) -> None:
        """submit --emulator says no later command can fetch its job, instead of leaving the
        user to try `sora2 result ID`."""
        result = run("submit", "--emulator", PROMPT)
        assert 0 == result.exit_code, result.stderr
        request_id = result.stdout.strip()
        assert f"--emulator forgets job {request_id}" in result.stderr
        assert "sora2 emulator" in result.stderr

    def test_status_explains_that_in_process_jobs_do_not_outlive_the_command(self) -> None:
        """status --emulator of an earlier job is not found, and the message says why."""
        request_id = run("submit", "--emulator", PROMPT).stdout.strip()
        result = run("status", request_id, "--emulator")
        assert result.exit_code == EXIT_ERROR
        assert "sora2 emulator" in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1


class TestJournalCommands:
    def test_jobs_lists_and_filters(self, server: str, token: str, fake_time: FakeClock) -> None:
        """jobs lists every journaled job; --unfinished keeps those not yet over."""
        finished = run("generate", PROMPT, "--base-url", server)
        assert finished.exit_code == 0, finished.stderr
        pending = submit_one(server)
        everything = one_json(run("jobs", "--json").stdout)["jobs"]
        assert len(everything) == 2
        unfinished = one_json(run("jobs", "--unfinished", "--json").stdout)["jobs"]
        assert [pending] == [job["request_id"] for job in unfinished]
        listing = run("jobs", "--unfinished")
        assert listing.stdout.startswith(f"{pending}  in_queue")

    def test_jobs_shows_the_service_when_the_journal_holds_several(
        self, server: str, token: str, fake_time: FakeClock
    ) -> None:
        """One service: the lines stay as they are; two: each line names its service URL."""
        from sora2.emulator import create_app, serve

        first = submit_one(server)
        assert server not in run("jobs").stdout
        with serve(create_app(clock=fake_time.monotonic, token=TOKEN)) as other:
            second = submit_one(other)
        lines = run("jobs").stdout.splitlines()
        assert [first, second] == [line.split()[0] for line in lines]
        assert f"  {server}  " in lines[0] and f"  {other}  " in lines[1]

    def test_forget_of_a_missing_id_is_one_error(self) -> None:
        """Forgetting an id the journal does not hold: one error line, nothing on stdout."""
        result = run("forget", "no-such-id")
        assert EXIT_ERROR == result.exit_code
        assert "" == result.stdout
        assert ["sora2: error: no-such-id is not in the journal"] == result.stderr.splitlines()

    def test_json_errors_carry_the_request_id(self, server: str, token: str) -> None:
        """A --json error object names the job whenever the command knows it (a result asked
        for too early, a job cancelled)."""
        request_id = submit_one(server)
        early = one_json(run("result", request_id, "--json", "--base-url", server).stdout)
        assert (EXIT_NOT_READY, request_id) == (
            early["error"]["exit_code"],
            early["error"]["request_id"],
        )
        assert 0 == run("cancel", request_id, "--base-url", server).exit_code
        cancelled = one_json(run("result", request_id, "--json", "--base-url", server).stdout)
        assert (EXIT_CANCELLED, request_id) == (
            cancelled["error"]["exit_code"],
            cancelled["error"]["request_id"],
        )

    def test_journal_option_overrides_the_environment(
        self, fake_time: FakeClock, tmp_path: Path
    ) -> None:
        """--journal PATH writes there instead of $SORA2_JOURNAL."""
        other = tmp_path / "other.sqlite3"
        assert run("submit", "--emulator", PROMPT, "--journal", str(other)).exit_code == 0
        assert len(journal_rows(other)) == 1
        assert journal_rows(tmp_path / "journal.sqlite3") == []

    def test_empty_journal(self) -> None:
        """jobs on an empty journal succeeds and says so on stderr."""
        result = run("jobs")
        assert result.exit_code == 0
        assert result.stdout == ""
        assert "no jobs" in result.stderr

    def test_resume_one_id_into_a_directory(
        self, server: str, token: str, fake_time: FakeClock, isolated: Path
    ) -> None:
        """resume ID --out-dir waits for a submitted job and downloads it, without resubmitting."""
        request_id = submit_one(server)
        result = run("resume", request_id, "--base-url", server, "--out-dir", "videos", "--json")
        assert result.exit_code == 0, result.stderr
        (job,) = one_json(result.stdout)["jobs"]
        assert job["state"] == "completed"
        assert (isolated / "videos" / f"{request_id}.mp4").is_file()
        assert len(one_json(run("jobs", "--json").stdout)["jobs"]) == 1

    def test_resume_without_download_target_says_how_to_fetch(
        self, server: str, token: str, fake_time: FakeClock
    ) -> None:
        """A resumed job that had nowhere to go completes and points at `sora2 result`."""
        request_id = submit_one(server)
        result = run("resume", request_id, "--base-url", server)
        assert result.exit_code == 0, result.stderr
        assert f"sora2 result {request_id} --out . --base-url {server}" in result.stderr

    def test_nothing_to_resume(self, token: str) -> None:
        """resume with an empty journal succeeds and says there is nothing to do."""
        result = run("resume")
        assert result.exit_code == 0
        assert "nothing to resume" in result.stderr

    def test_resume_timeout_exits_3(self, server: str, token: str) -> None:
        """resume ID --timeout gives up like generate does: exit 3."""
        request_id = submit_one(server)
        result = run("resume", request_id, "--base-url", server, "--timeout", "0.5")
        assert result.exit_code == EXIT_TIMEOUT
        assert f"sora2 resume {request_id}" in result.stderr


class TestSecrecy:
    def test_token_never_appears_in_any_output(
        self, server: str, token: str, fake_time: FakeClock, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """No command prints the token: not in results, progress, errors or verbose logs."""
        outputs: list[str] = []

        def check(*args: str) -> str:
            result = run(*args, "--base-url", server, "--verbose")
            outputs.append(result.output)
            return result.stdout

        request_id = check("submit", PROMPT).strip()
        check("status", request_id)
        check("cancel", request_id)
        check("result", request_id, "--json")
        check("generate", PROMPT, "--json")
        check("jobs", "--json")
        check("resume")
        check("status", "no-such-job")
        monkeypatch.setenv("RUNCOMFY_API_TOKEN", TOKEN + "-wrong")
        check("submit", PROMPT)
        assert any("DEBUG" in text for text in outputs)  # the logs were really on
        for text in outputs:
            assert TOKEN not in text
