"""The journal's commands (``jobs``, ``forget``, ``resume``) through ``sora2._cli.main``."""

from __future__ import annotations

from pathlib import Path

from sora2._cli import EXIT_CANCELLED, EXIT_ERROR, EXIT_NOT_READY, EXIT_TIMEOUT
from sora2.emulator import create_app, serve

from .helpers import (
    TOKEN,
    FakeClock,
    documented_prompt,
    journal_rows,
    one_json,
    run,
    submit_one,
)

PROMPT = documented_prompt()


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
