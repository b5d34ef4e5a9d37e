"""The job commands through ``sora2._cli.main``, against in-process and HTTP emulators: every
command's help, then ``submit``, ``status``, ``result`` and ``cancel``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sora2._cli import (
    EXIT_CANCELLED,
    EXIT_CONFIG,
    EXIT_ERROR,
    EXIT_NOT_READY,
)
from sora2._inputs import PROMPT_INPUT, input_fields

from .helpers import (
    TOKEN,
    FakeClock,
    documented_prompt,
    one_json,
    run,
    server_state,
    submit_one,
)

PROMPT = documented_prompt()
COMMANDS = ("generate", "submit", "status", "result", "cancel", "jobs", "resume")


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
