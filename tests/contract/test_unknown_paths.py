"""Calls to the API's host on a path the spec does not have are flagged; other hosts are not."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from sora2._cli import main
from sora2._spec import operation, operations, server_url
from sora2.contract import ContractTransport, load_contract

STALE = operation("submit").path + "-v0"
"""A model path next to the real one, as a client built from an older spec would call."""


def _answer(request: httpx.Request) -> httpx.Response:
    return httpx.Response(404, json={"error_code": 404001, "message": "Not found."})


class TestUnknownPaths:
    def test_a_removed_model_path_on_the_api_host_is_flagged(self) -> None:
        """A POST to a model path the spec does not have, on the spec's server, is a violation."""
        violations = load_contract().unmatched_violations("POST", server_url() + STALE)
        assert [("/path", "path", "request")] == [(v.pointer, v.rule, v.side) for v in violations]

    def test_other_hosts_are_not_api_calls(self) -> None:
        """The same path on a CDN host, and a file download, stay unchecked."""
        contract = load_contract()
        assert [] == contract.unmatched_violations("GET", "https://cdn.example.net" + STALE)
        assert [] == contract.unmatched_violations("GET", server_url() + "/files/video.mp4")

    def test_the_namespace_is_what_every_spec_path_shares(self) -> None:
        """Every operation's path starts with the contract's namespace."""
        namespace = load_contract().namespace
        assert all(op.path.startswith(namespace) for op in operations().values())

    def test_extra_api_urls_are_checked_too(self) -> None:
        """A base URL given as api_urls (an emulator, a proxy) is the API's host too."""
        base = "http://127.0.0.1:8000"
        assert [] == load_contract().unmatched_violations("POST", base + STALE)
        flagged = load_contract(api_urls=[base]).unmatched_violations("POST", base + STALE)
        assert ["path"] == [v.rule for v in flagged]

    def test_the_transport_raises_on_a_stale_client(self) -> None:
        """ContractTransport refuses a stale client's call in raise mode."""
        import sora2

        transport = ContractTransport(httpx.MockTransport(_answer))
        with (
            httpx.Client(transport=transport, base_url=server_url()) as http,
            pytest.raises(sora2.ContractViolationError, match="no operation of the spec"),
        ):
            http.post(STALE, json={"prompt": "x"}, headers={"authorization": "Bearer t"})


def test_contract_check_flags_a_recorded_stale_call(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``sora2 contract check`` counts a recorded stale call as checked and violating."""
    line = {
        "method": "POST",
        "url": server_url() + STALE,
        "request_headers": {"authorization": "Bearer <redacted>"},
        "status": 404,
        "response_headers": {"content-type": "application/json"},
        "response_body": json.dumps({"error_code": 404001, "message": "Not found."}),
    }
    path = tmp_path / "x.jsonl"
    path.write_text(json.dumps(line) + "\n")
    assert 1 == main(["contract", "check", str(path), "--json"])
    payload = json.loads(capsys.readouterr().out)
    assert (1, ["path"]) == (payload["checked"], [v["rule"] for v in payload["violations"]])
