"""The CLI never strands paid work: refusals before paying, one JSON object on failure too,
jobs that can be refreshed, pruned and forgotten, and a resume that goes on past a bad job."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from sora2._cli import EXIT_CONFIG, EXIT_ERROR, EXIT_TIMEOUT, EXIT_USAGE
from sora2._journal import Journal
from sora2._types import GONE

from .helpers import FakeClock, documented_prompt, run

PROMPT = documented_prompt()


def journal_ids(path: Path) -> list[str]:
    if not path.exists():
        return []
    with sqlite3.connect(path) as conn:
        return [row[0] for row in conn.execute("SELECT request_id FROM jobs")]


def one_json(stdout: str) -> dict[str, Any]:
    """stdout holds exactly one JSON object and nothing else."""
    lines = [line for line in stdout.splitlines() if line.strip()]
    assert 1 == len(lines), stdout
    value = json.loads(lines[0])
    assert isinstance(value, dict)
    return value


def submit_one(url: str, prompt: str = PROMPT) -> str:
    submitted = run("submit", prompt, "--base-url", url)
    assert 0 == submitted.exit_code, submitted.stderr
    return submitted.stdout.strip()


class TestRefusedBeforePaying:
    @pytest.mark.parametrize("command", ["generate", "submit"])
    def test_a_blank_prompt_is_refused(
        self, command: str, fake_time: FakeClock, tmp_path: Path
    ) -> None:
        """A prompt of spaces is a usage error naming the prompt; no job is journaled."""
        result = run(command, "--emulator", "   ")
        assert EXIT_USAGE == result.exit_code
        assert "prompt" in result.stderr
        assert [] == journal_ids(tmp_path / "journal.sqlite3")

    def test_an_unwritable_out_is_refused(
        self, fake_time: FakeClock, tmp_path: Path, isolated: Path
    ) -> None:
        """generate --out under a regular file exits 2 naming --out's path; nothing is sent."""
        (isolated / "plain").write_text("x")
        result = run("generate", "--emulator", PROMPT, "--out", "plain/fox.mp4")
        assert EXIT_USAGE == result.exit_code
        assert "out" in result.stderr and "nothing was submitted" in result.stderr
        assert [] == journal_ids(tmp_path / "journal.sqlite3")


class TestJsonOnFailure:
    def test_a_usage_error_is_one_error_object(self) -> None:
        """A bad option with --json still prints one object, its error typed and coded."""
        result = run("generate", "--emulator", PROMPT, "--size", "1x1", "--json")
        payload = one_json(result.stdout)
        assert EXIT_USAGE == result.exit_code == payload["error"]["exit_code"]
        assert {"type", "message", "request_id", "exit_code"} == set(payload["error"])

    def test_a_missing_token_is_one_error_object(self, server: str) -> None:
        """A configuration error prints its type and exit code as JSON."""
        result = run("status", "some-id", "--base-url", server, "--json")
        payload = one_json(result.stdout)
        assert EXIT_CONFIG == result.exit_code
        assert "ConfigurationError" == payload["error"]["type"]

    def test_a_timeout_carries_the_request_id(self, server: str, token: str) -> None:
        """generate --timeout 0 --json: the error object names the paid job's id."""
        result = run("generate", PROMPT, "--base-url", server, "--timeout", "0", "--json")
        payload = one_json(result.stdout)
        assert EXIT_TIMEOUT == result.exit_code == payload["error"]["exit_code"]
        assert "WaitTimeoutError" == payload["error"]["type"]
        request_id = payload["error"]["request_id"]
        assert request_id and request_id in result.stderr

    def test_an_unknown_id_is_one_error_object(self, server: str, token: str) -> None:
        """status of an unknown id --json: a NotFoundError object with the id."""
        result = run("status", "no-such-id", "--base-url", server, "--json")
        payload = one_json(result.stdout)
        assert EXIT_ERROR == result.exit_code
        assert "NotFoundError" == payload["error"]["type"]
        assert "no-such-id" == payload["error"]["request_id"]

    def test_in_process_not_found_keeps_its_type(self) -> None:
        """The --emulator hint on a 404 keeps NotFoundError as the error's type."""
        result = run("status", "no-such-id", "--emulator", "--json")
        payload = one_json(result.stdout)
        assert "NotFoundError" == payload["error"]["type"]
        assert "--emulator" in payload["error"]["message"]


class TestUnusableJournal:
    @pytest.mark.parametrize("command", ["submit", "generate"])
    @pytest.mark.parametrize("journal", ["notdb.sqlite3", "notdb.sqlite3/journal.sqlite3"])
    def test_refuses_to_submit_naming_the_journal(
        self, server: str, token: str, isolated: Path, command: str, journal: str
    ) -> None:
        """A journal that is a text file, or under one, refuses the submit: exit 2, one error
        naming the journal, and the JSON error says the same; nothing reaches the service."""
        (isolated / "notdb.sqlite3").write_text("not a database\n")
        done = run(command, PROMPT, "--base-url", server, "--journal", journal, "--json")
        assert EXIT_USAGE == done.exit_code
        error = one_json(done.stdout)["error"]
        assert "JournalError" == error["type"] and journal in error["message"]
        assert journal in done.stderr and "--no-journal" in done.stderr
        assert "request_id" not in done.stderr
        assert "not a database\n" == (isolated / "notdb.sqlite3").read_text()

    def test_no_journal_submits_without_one(self, server: str, token: str, isolated: Path) -> None:
        """--no-journal is the explicit way to submit with no record; --journal with it is a
        usage error."""
        done = run("submit", PROMPT, "--base-url", server, "--no-journal")
        assert 0 == done.exit_code, done.stderr
        assert [] == journal_ids(isolated.parent / "journal.sqlite3")
        both = run("submit", PROMPT, "--base-url", server, "--no-journal", "--journal", "j")
        assert EXIT_USAGE == both.exit_code

    def test_batch_refuses_too(self, server: str, token: str, isolated: Path) -> None:
        """sora2 batch with an unusable journal exits 2 and submits no row."""
        (isolated / "notdb.sqlite3").write_text("not a database\n")
        (isolated / "rows.jsonl").write_text(json.dumps({"prompt": PROMPT}) + "\n")
        done = run(
            "batch",
            "rows.jsonl",
            "--out-dir",
            "out",
            "--base-url",
            server,
            "--journal",
            "notdb.sqlite3",
        )
        assert EXIT_USAGE == done.exit_code, done.stderr
        assert "notdb.sqlite3" in done.stderr


class TestJobsCommands:
    def test_prompt_column_tells_jobs_apart(self, server: str, token: str) -> None:
        """`sora2 jobs` shows the start of each job's prompt, shortened."""
        submit_one(server, "A red fox crossing a snowy field at dusk, " * 3)
        submit_one(server, "A lighthouse")
        lines = run("jobs").stdout.splitlines()
        assert "A red fox crossing a snowy" in lines[0]
        assert "…" in lines[0]
        assert "A lighthouse" in lines[1]

    def test_refresh_asks_the_service(
        self, server: str, token: str, fake_time: FakeClock, tmp_path: Path
    ) -> None:
        """--refresh replaces a stale in_queue with the service's current state."""
        request_id = submit_one(server)
        fake_time.advance(600)
        stale = run("jobs", "--json")
        assert "in_queue" == one_json(stale.stdout)["jobs"][0]["state"]
        fresh = run("jobs", "--refresh", "--base-url", server, "--json")
        assert 0 == fresh.exit_code, fresh.stderr
        [row] = one_json(fresh.stdout)["jobs"]
        assert (request_id, "completed") == (row["request_id"], row["state"])

    def test_refresh_marks_dead_ids_gone(
        self, server: str, token: str, tmp_path: Path, fake_time: FakeClock
    ) -> None:
        """An id the service does not know becomes gone on --refresh, and --prune removes it."""
        Journal(tmp_path / "journal.sqlite3").record_submission(
            "typo", base_url=server, prompt="p", params={}
        )
        refreshed = run("jobs", "--refresh", "--base-url", server)
        assert GONE in refreshed.stdout
        pruned = run("jobs", "--prune", "--base-url", server, "--json")
        assert ["typo"] == one_json(pruned.stdout)["pruned"]
        assert [] == journal_ids(tmp_path / "journal.sqlite3")

    def test_forget_removes_a_row(self, server: str, token: str, tmp_path: Path) -> None:
        """`sora2 forget ID` removes it; forgetting it again is an error."""
        request_id = submit_one(server)
        assert 0 == run("forget", request_id).exit_code
        assert [] == journal_ids(tmp_path / "journal.sqlite3")
        again = run("forget", request_id, "--json")
        assert EXIT_ERROR == again.exit_code
        assert request_id == one_json(again.stdout)["error"]["request_id"]


class TestResumeOneId:
    def test_out_dir_saves_a_copy_of_a_saved_job(
        self, server: str, token: str, tmp_path: Path, isolated: Path
    ) -> None:
        """resume ID --out-dir DIR for a job saved already saves a copy into DIR; without
        --out-dir it says where the file is. Never silently nothing."""
        done = run("generate", PROMPT, "--base-url", server, "--out", "first.mp4", "--json")
        assert 0 == done.exit_code, done.stderr
        request_id = one_json(done.stdout)["request_id"]
        where = run("resume", request_id, "--base-url", server)
        assert 0 == where.exit_code, where.stderr
        assert f"{request_id} is saved: {isolated / 'first.mp4'}" in where.stderr
        copied = run("resume", request_id, "--base-url", server, "--out-dir", "copies")
        assert 0 == copied.exit_code, copied.stderr
        copy = isolated / "copies" / "first.mp4"
        assert (isolated / "first.mp4").read_bytes() == copy.read_bytes()
        assert f"{request_id} is saved: {copy}" in copied.stderr

    def test_an_unknown_id_writes_no_row(
        self, server: str, token: str, tmp_path: Path, fake_time: FakeClock
    ) -> None:
        """resume of an id the journal never saw and the service answers 404 for (a typo) is
        an error, and writes no gone row; a real id from elsewhere is adopted and saved."""
        typo = run("resume", "no-such-job", "--base-url", server, "--out-dir", "d")
        assert EXIT_ERROR == typo.exit_code
        assert "no-such-job" in typo.stderr
        assert [] == journal_ids(tmp_path / "journal.sqlite3")
        elsewhere = run("submit", PROMPT, "--base-url", server, "--no-journal")
        request_id = elsewhere.stdout.strip()
        fake_time.advance(3600)
        adopted = run("resume", request_id, "--base-url", server, "--out-dir", "d", "--json")
        assert 0 == adopted.exit_code, adopted.stderr
        [row] = one_json(adopted.stdout)["jobs"]
        assert (request_id, "completed") == (row["request_id"], row["state"])
        assert Path(row["output_path"]).is_file()
        assert [request_id] == journal_ids(tmp_path / "journal.sqlite3")


class TestHintsThatWork:
    def test_an_emulator_job_is_never_sent_to_sora2_resume(
        self, fake_time: FakeClock, isolated: Path
    ) -> None:
        """generate --emulator that gives up waiting does not suggest `sora2 resume ID` (the
        in-process emulator is gone with the command); it says so instead."""
        done = run("generate", PROMPT, "--emulator", "--timeout", "0")
        assert EXIT_TIMEOUT == done.exit_code
        assert "sora2 resume" not in done.stderr
        assert "--emulator forgets job" in done.stderr

    def test_an_emulator_write_failure_is_never_sent_to_sora2_result(
        self, fake_time: FakeClock, isolated: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A paid-job failure under --emulator (the file cannot be written) names no sora2
        command that cannot reach the emulator."""
        from sora2 import _download

        def full_disk(self: _download.PartFile, chunk: bytes) -> None:
            raise OSError(28, "No space left on device")

        monkeypatch.setattr(_download.PartFile, "write", full_disk)
        done = run("generate", PROMPT, "--emulator")
        assert EXIT_ERROR == done.exit_code
        assert "No space left" in done.stderr
        assert "sora2 result" not in done.stderr and "sora2 resume" not in done.stderr
        assert "--emulator forgets job" in done.stderr


class TestIndependentResume:
    def test_a_bad_job_is_reported_and_the_others_finish(
        self, server: str, token: str, tmp_path: Path, isolated: Path, fake_time: FakeClock
    ) -> None:
        """The oldest job cannot be saved: resume reports it, saves the next, and says how
        many finished; a second run is not blocked by the first job either."""
        first, second = submit_one(server), submit_one(server)
        (isolated / "blocked").write_text("a file")
        journal = Journal(tmp_path / "journal.sqlite3")
        journal.update(first, target_path=str(isolated / "blocked" / "a.mp4"))
        journal.update(second, target_path=str(isolated / "b.mp4"))
        result = run("resume", "--base-url", server, "--json")
        assert EXIT_ERROR == result.exit_code
        payload = one_json(result.stdout)
        assert (1, 1) == (payload["finished"], payload["failed"])
        assert "1 of 2 jobs finished" in payload["error"]["message"]
        assert first in result.stderr
        assert (isolated / "b.mp4").is_file()


class TestQuietLogs:
    def test_a_retry_prints_nothing_without_verbose(
        self, fake_time: FakeClock, token: str, isolated: Path
    ) -> None:
        """A retried poll leaves no log line on stderr; with -v it is one sora2 line."""
        from sora2.emulator import create_app, serve

        app = create_app(clock=fake_time.monotonic, token=token, faults="status:503=0@first=1")
        with serve(app) as url:
            quiet = run("generate", PROMPT, "--base-url", url, "--out", "a.mp4")
            app.faults = "status:503=0@first=1"  # a new plan: its counts start again
            verbose = run("generate", PROMPT, "--base-url", url, "--out", "b.mp4", "-v")
        assert 0 == quiet.exit_code == verbose.exit_code, quiet.stderr + verbose.stderr
        assert "stamina" not in quiet.stderr and "retry" not in quiet.stderr
        assert "stamina" not in verbose.stderr
        assert [] != [
            line for line in verbose.stderr.splitlines() if "sora2: status: retry" in line
        ]
