"""Recorded exchanges: the JSONL format, HAR 1.2 input, redaction and re-checking."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from contract_examples import TOKEN, status_required_pointers

from sora2._spec import operation, server_url
from sora2.contract import Exchange, check_exchange, read_exchanges
from sora2.contract._exchanges import append_jsonl, redact_headers

STATUS_URL = server_url() + operation("status").url_path(request_id="abc")
GOOD_BODY = {"request_id": "abc", "status": "in_queue"}


def line(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "method": "GET",
        "url": STATUS_URL,
        "request_headers": {"Authorization": f"Bearer {TOKEN}"},
        "request_body": None,
        "status": 200,
        "response_headers": {"Content-Type": "application/json"},
        "response_body": json.dumps(GOOD_BODY),
    }
    return base | overrides


def write_jsonl(path: Path, *lines: dict[str, Any]) -> Path:
    path.write_text("".join(json.dumps(item) + "\n" for item in lines), encoding="utf-8")
    return path


def har(*entries: dict[str, Any]) -> dict[str, Any]:
    return {
        "log": {
            "version": "1.2",
            "creator": {"name": "test", "version": "1"},
            "entries": list(entries),
        }
    }


def har_entry(
    *, method: str = "GET", url: str = STATUS_URL, status: int = 200, text: str | None = None
) -> dict[str, Any]:
    content: dict[str, Any] = {"size": -1, "mimeType": "application/json"}
    if text is not None:
        content["text"] = text
    return {
        "request": {
            "method": method,
            "url": url,
            "headers": [{"name": "Authorization", "value": f"Bearer {TOKEN}"}],
        },
        "response": {"status": status, "headers": [], "content": content},
    }


class TestJsonl:
    def test_round_trip_keeps_what_checking_needs(self, tmp_path: Path) -> None:
        """An exchange written and read back checks the same and carries no token."""
        exchange = Exchange.from_json(line(response_body=json.dumps({"status": 1})))
        path = tmp_path / "x.jsonl"
        append_jsonl(path, exchange)
        assert TOKEN not in path.read_text(encoding="utf-8")
        (again,) = read_exchanges(path)
        assert check_exchange(exchange) == check_exchange(again)
        assert status_required_pointers() == {v.pointer for v in check_exchange(again) or []}

    def test_body_may_be_a_json_value(self, tmp_path: Path) -> None:
        """A hand-written line may give the body as JSON itself instead of as text."""
        (exchange,) = read_exchanges(
            write_jsonl(tmp_path / "x.jsonl", line(response_body=GOOD_BODY))
        )
        assert check_exchange(exchange) == []

    def test_binary_body_round_trips_as_base64(self, tmp_path: Path) -> None:
        """A body that is not UTF-8 is stored as base64 and read back byte for byte."""
        data = b"\xff\x00\xfe"
        exchange = Exchange.from_json(line())
        exchange.response_body = data
        stored = exchange.to_json()
        assert stored["response_body_encoding"] == "base64"
        assert data == base64.b64decode(stored["response_body"])
        assert data == Exchange.from_json(stored).response_body

    def test_headers_may_be_pairs(self) -> None:
        """Headers given as ``[name, value]`` pairs are read like an object."""
        exchange = Exchange.from_json(line(response_headers=[["content-type", "application/json"]]))
        assert check_exchange(exchange) == []

    def test_no_response_checks_the_request_only(self) -> None:
        """``status: null`` (no answer) still checks the request side."""
        exchange = Exchange.from_json(line(status=None, request_headers={}))
        assert {"/headers/authorization"} == {v.pointer for v in check_exchange(exchange) or []}

    def test_stored_encoding_headers_are_ignored(self) -> None:
        """Bodies are stored decoded, so a recorded Content-Encoding does not garble them."""
        headers = {"content-type": "application/json", "content-encoding": "gzip"}
        assert check_exchange(Exchange.from_json(line(response_headers=headers))) == []

    def test_non_api_exchange_is_skipped(self) -> None:
        """A line for a download URL is reported as not an API call (None)."""
        exchange = Exchange.from_json(line(url="https://cdn.example/v.mp4", response_body=None))
        assert check_exchange(exchange) is None

    @pytest.mark.parametrize(
        ("text", "reason"),
        [
            ("not json\n", "line 1"),
            (
                '{"method": "GET", "url": "x", "status": 200}\n[]\n',
                "line 2: an exchange must be a JSON object",
            ),
            ('{"url": "x", "status": 200}\n', "'method' must be a non-empty string"),
            ('{"method": "GET", "url": "x"}\n', "'status' is required"),
            ('{"method": "GET", "url": "x", "status": "200"}\n', "'status' must be an integer"),
            (
                '{"method": "GET", "url": "x", "status": 200, "request_headers": 5}\n',
                "headers must be",
            ),
            (
                '{"method": "GET", "url": "x", "status": 200, "response_body": "!",'
                ' "response_body_encoding": "base64"}\n',
                "not valid base64",
            ),
        ],
    )
    def test_bad_lines_name_the_line_and_the_reason(
        self, tmp_path: Path, text: str, reason: str
    ) -> None:
        """A malformed file raises ValueError naming the line and what is wrong with it."""
        path = tmp_path / "bad.jsonl"
        path.write_text(text, encoding="utf-8")
        with pytest.raises(ValueError, match=reason):
            read_exchanges(path)

    def test_blank_lines_are_skipped(self, tmp_path: Path) -> None:
        """Empty lines between exchanges are allowed."""
        path = tmp_path / "x.jsonl"
        path.write_text("\n" + json.dumps(line()) + "\n\n", encoding="utf-8")
        assert len(read_exchanges(path)) == 1

    def test_missing_file_is_an_os_error(self, tmp_path: Path) -> None:
        """A file that does not exist raises OSError, for the CLI to report in one line."""
        with pytest.raises(OSError):
            read_exchanges(tmp_path / "missing.jsonl")


class TestHar:
    def test_entries_are_read_and_checked(self, tmp_path: Path) -> None:
        """A HAR log's entries become exchanges; a broken body is found in its entry."""
        document = har(
            har_entry(text=json.dumps(GOOD_BODY)),
            har_entry(text=json.dumps({"request_id": "abc"})),
            har_entry(url="https://cdn.example/a.mp4", text=""),
        )
        path = tmp_path / "session.har"
        path.write_text(json.dumps(document), encoding="utf-8")
        first, second, third = read_exchanges(path)
        assert check_exchange(first) == []
        assert {"/body/status"} == {v.pointer for v in check_exchange(second) or []}
        assert check_exchange(third) is None

    def test_mime_type_stands_in_for_a_missing_content_type(self, tmp_path: Path) -> None:
        """HAR's content.mimeType is used when the headers list has no Content-Type."""
        path = tmp_path / "s.har"
        path.write_text(json.dumps(har(har_entry(text=json.dumps(GOOD_BODY)))), encoding="utf-8")
        (exchange,) = read_exchanges(path)
        assert ("content-type", "application/json") in exchange.response_headers

    def test_unsaved_body_is_not_judged(self, tmp_path: Path) -> None:
        """An entry saved without content.text has its status and headers checked, not its body."""
        path = tmp_path / "s.har"
        path.write_text(json.dumps(har(har_entry(text=None))), encoding="utf-8")
        (exchange,) = read_exchanges(path)
        assert exchange.response_body is None
        assert check_exchange(exchange) == []

    def test_base64_content_is_decoded(self, tmp_path: Path) -> None:
        """``content.encoding: base64`` bodies are decoded before checking."""
        entry = har_entry(text=base64.b64encode(json.dumps(GOOD_BODY).encode()).decode())
        entry["response"]["content"]["encoding"] = "base64"
        path = tmp_path / "s.har"
        path.write_text(json.dumps(har(entry)), encoding="utf-8")
        assert check_exchange(read_exchanges(path)[0]) == []

    def test_aborted_request_has_no_response(self, tmp_path: Path) -> None:
        """HAR's status 0 (no response) becomes ``status is None``."""
        path = tmp_path / "s.har"
        path.write_text(json.dumps(har(har_entry(status=0))), encoding="utf-8")
        assert read_exchanges(path)[0].status is None

    def test_tokens_are_redacted_on_reading(self, tmp_path: Path) -> None:
        """A HAR's Authorization header loses its token as soon as it is read."""
        path = tmp_path / "s.har"
        path.write_text(json.dumps(har(har_entry(text="{}"))), encoding="utf-8")
        (exchange,) = read_exchanges(path)
        assert TOKEN not in repr(exchange)

    def test_malformed_entry_is_named(self, tmp_path: Path) -> None:
        """A HAR entry without a request is reported by its index."""
        path = tmp_path / "s.har"
        path.write_text(json.dumps(har({"response": {}})), encoding="utf-8")
        with pytest.raises(ValueError, match="HAR entry 0"):
            read_exchanges(path)


class TestRedaction:
    def test_credentials_are_replaced_and_scheme_kept(self) -> None:
        """Authorization keeps its scheme; cookies and API keys are replaced whole."""
        headers = redact_headers(
            [
                ("Authorization", f"Bearer {TOKEN}"),
                ("Cookie", f"session={TOKEN}"),
                ("X-Api-Key", TOKEN),
                ("Accept", "*/*"),
            ]
        )
        assert headers == [
            ("authorization", "Bearer <redacted>"),
            ("cookie", "<redacted>"),
            ("x-api-key", "<redacted>"),
            ("accept", "*/*"),
        ]

    def test_empty_token_stays_visibly_empty(self) -> None:
        """``Bearer`` with no token is kept as is, so the recording still shows the fault."""
        assert redact_headers([("Authorization", "Bearer ")]) == [("authorization", "Bearer ")]
