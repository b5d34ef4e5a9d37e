"""The job commands through ``sora2._cli.main``, against in-process and HTTP emulators."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sora2._cli import (
    EXIT_CANCELLED,
    EXIT_CONFIG,
    EXIT_ERROR,
    EXIT_NOT_READY,
    EXIT_TIMEOUT,
)
from sora2._inputs import PROMPT_INPUT, input_fields

from .helpers import (
    TOKEN,
    FakeClock,
    documented_prompt,
    journal_rows,
    one_json,
    run,
    server_state,
)

PROMPT = documented_prompt()
COMMANDS = ("generate", "submit", "status", "result", "cancel", "jobs", "resume")


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
