"""``sora2 contract check FILE``: the report, ``--json``, and exit codes 0, 1 and 2."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from contract_examples import TOKEN, status_required_pointers

from sora2._cli import main
from sora2._spec import operation, server_url

STATUS_URL = server_url() + operation("status").url_path(request_id="abc")


def exchange(body: Any, *, url: str = STATUS_URL) -> dict[str, Any]:
    return {
        "method": "GET",
        "url": url,
        "request_headers": {"authorization": f"Bearer {TOKEN}"},
        "status": 200,
        "response_headers": {"content-type": "application/json"},
        "response_body": body,
    }


@pytest.fixture
def recording(tmp_path: Path) -> Path:
    """Three exchanges: one clean, one broken, one download that is not an API call."""
    path = tmp_path / "run.jsonl"
    lines = [
        exchange({"request_id": "abc", "status": "in_queue"}),
        exchange({"request_id": "abc", "status": 7}),
        exchange("binary", url="https://cdn.example/video.mp4"),
    ]
    path.write_text("".join(json.dumps(item) + "\n" for item in lines), encoding="utf-8")
    return path


def test_violations_are_reported_and_exit_1(
    recording: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A broken exchange is listed with its pointer, the summary counts, and the exit code is 1."""
    assert main(["contract", "check", str(recording)]) == 1
    out = capsys.readouterr().out
    assert "#2 GET /v1/requests/abc/status -> 200 (status)" in out
    assert "response /body/status:" in out
    assert "3 exchanges, 2 checked, 1 skipped (not API calls): 1 violation" in out
    assert TOKEN not in out


def test_json_output(recording: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``--json`` prints one object with counts and each violation's fields."""
    assert main(["contract", "check", str(recording), "--json"]) == 1
    payload = json.loads(capsys.readouterr().out)
    assert (
        payload["exchanges"],
        payload["checked"],
        payload["skipped"],
        payload["ok"],
    ) == (3, 2, 1, False)
    (violation,) = payload["violations"]
    assert {
        "exchange": 2,
        "pointer": "/body/status",
        "rule": "type",
        "side": "response",
    }.items() <= (violation.items())


def test_clean_file_exits_0(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A file whose API exchanges all conform exits 0 and says so."""
    path = tmp_path / "ok.jsonl"
    path.write_text(json.dumps(exchange({"request_id": "abc", "status": "completed"})) + "\n")
    assert main(["contract", "check", str(path)]) == 0
    assert "0 violations" in capsys.readouterr().out


def test_har_file_is_accepted(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A HAR file is recognised without an option."""
    entry = {
        "request": {"method": "GET", "url": STATUS_URL, "headers": []},
        "response": {
            "status": 200,
            "headers": [],
            "content": {"mimeType": "application/json", "text": "{}"},
        },
    }
    path = tmp_path / "s.har"
    path.write_text(json.dumps({"log": {"version": "1.2", "entries": [entry]}}))
    assert main(["contract", "check", str(path), "--json"]) == 1
    pointers = {v["pointer"] for v in json.loads(capsys.readouterr().out)["violations"]}
    assert {"/headers/authorization"} | status_required_pointers() == pointers


@pytest.mark.parametrize(
    ("content", "message"),
    [(None, "No such file"), ("{oops\n", "line 1"), (b"\xff\xfe\x00", "not UTF-8")],
)
def test_unreadable_file_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str | bytes | None, message: str
) -> None:
    """A missing, malformed or binary file gives one ``sora2: error:`` line and exit code 2."""
    path = tmp_path / "in.jsonl"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content)
    assert main(["contract", "check", str(path)]) == 2
    captured = capsys.readouterr()
    (line,) = captured.err.splitlines()
    assert line.startswith("sora2: error: ")
    assert message in line
    assert captured.out == ""
