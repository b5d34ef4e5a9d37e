"""The pytest plugin: the ``sora2_contract`` fixture fails a test whose traffic broke the spec."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEADER = """
import httpx
import pytest

STATUS = "https://model-api.runcomfy.net/v1/requests/abc/status"


def answer(body):
    return httpx.MockTransport(lambda request: httpx.Response(200, json=body))


def get(transport):
    headers = {"authorization": "Bearer sk-plugin-secret"}
    with httpx.Client(transport=transport, headers=headers) as client:
        return client.get(STATUS)
"""


def test_clean_traffic_passes(pytester: pytest.Pytester) -> None:
    """A test whose exchanges all conform passes."""
    pytester.makepyfile(
        HEADER
        + """
def test_ok(sora2_contract):
    get(sora2_contract.transport(answer({"request_id": "abc", "status": "in_queue"})))
    assert len(sora2_contract.exchanges) == 1
"""
    )
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=1)


def test_violation_fails_the_test_and_lists_it(pytester: pytest.Pytester) -> None:
    """A test whose exchange broke the spec fails, naming the exchange and the pointer."""
    pytester.makepyfile(
        HEADER
        + """
def test_broken(sora2_contract):
    response = get(sora2_contract.transport(answer({"request_id": "abc"})))
    assert response.status_code == 200  # the test body itself passes
"""
    )
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*sora2 contract: 1 violation in 1 exchange*",
            "*GET /v1/requests/abc/status -> 200*",
            "*response /body/status: 'status' is a required property*",
        ]
    )
    assert "'status' is a required property [required]" in result.stdout.str()
    assert "sk-plugin-secret" not in result.stdout.str()


def test_each_violation_is_printed_once(pytester: pytest.Pytester) -> None:
    """A test failed by the plugin lists each violation once: in its failure, not again in a
    report section."""
    pytester.makepyfile(
        HEADER
        + """
def test_broken(sora2_contract):
    get(sora2_contract.transport(answer({"request_id": "abc"})))
"""
    )
    result = pytester.runpytest("-p", "no:cacheprovider", "-rA")
    result.assert_outcomes(failed=1)
    text = result.stdout.str()
    # pytest's own short summary (-rA) repeats a failure's message, in full since pytest 9.1:
    # that echo is pytest's, so the count stops where it begins.
    report = text.split("short test summary info", 1)[0]
    assert 1 == report.count("response /body/status: 'status' is a required property")
    assert "Captured sora2 contract" not in text


def test_async_transport_and_clear(pytester: pytest.Pytester) -> None:
    """Async transports record too, and clear() accepts violations a test expected."""
    pytester.makepyfile(
        HEADER
        + """
import anyio


def test_expected(sora2_contract):
    async def main():
        transport = sora2_contract.async_transport(answer({}))
        async with httpx.AsyncClient(transport=transport) as client:
            await client.get(STATUS, headers={"authorization": "Bearer x"})

    anyio.run(main)
    from sora2._spec import spec_document

    required = spec_document()["components"]["schemas"]["RequestStatus"]["required"]
    assert {f"/body/{name}" for name in required} == {
        v.pointer for v in sora2_contract.violations
    }
    sora2_contract.clear()
"""
    )
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=1)


def test_marker_lets_request_side_violations_pass(pytester: pytest.Pytester) -> None:
    """``sora2_contract(request=False)`` excuses a bad request but not a bad answer."""
    pytester.makepyfile(
        HEADER
        + """
@pytest.mark.sora2_contract(request=False)
def test_bad_request_good_answer(sora2_contract):
    transport = sora2_contract.transport(answer({"request_id": "abc", "status": "in_queue"}))
    with httpx.Client(transport=transport) as client:
        client.get(STATUS)  # no token


@pytest.mark.sora2_contract(request=False)
def test_bad_request_bad_answer(sora2_contract):
    bad = {"request_id": "abc", "status": 7, "queue_position": -1}
    with httpx.Client(transport=sora2_contract.transport(answer(bad))) as client:
        client.get(STATUS)
"""
    )
    result = pytester.runpytest("-p", "no:cacheprovider", "--strict-markers")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*sora2 contract: 2 violations in 1 exchange*"])
    assert "/headers/authorization" not in result.stdout.str()


@pytest.mark.parametrize("how", ["option", "env"])
def test_log_option_writes_jsonl(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    """``--sora2-contract-log`` or ``$SORA2_CONTRACT_LOG`` gets one line per exchange, by test."""
    pytester.makepyfile(
        HEADER
        + """
def test_one(sora2_contract):
    get(sora2_contract.transport(answer({"request_id": "abc", "status": "completed"})))
"""
    )
    log = pytester.path / "contract.jsonl"
    args = ["-p", "no:cacheprovider"]
    if how == "option":
        args.append(f"--sora2-contract-log={log}")
    else:
        monkeypatch.setenv("SORA2_CONTRACT_LOG", str(log))
    pytester.runpytest(*args).assert_outcomes(passed=1)
    (line,) = log.read_text(encoding="utf-8").splitlines()
    record = json.loads(line)
    assert record["test"].endswith("::test_one")
    assert record["request_headers"]["authorization"] == "Bearer <redacted>"


def test_runs_without_the_fixture_are_unaffected(pytester: pytest.Pytester) -> None:
    """The plugin is loaded everywhere but changes nothing for tests that do not use it."""
    pytester.makepyfile("def test_plain():\n    assert True\n")
    result = pytester.runpytest("-p", "no:cacheprovider", "--fixtures")
    result.stdout.fnmatch_lines(["*sora2_contract*"])
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=1)


def test_plugin_import_is_cheap() -> None:
    """Importing the plugin module loads neither httpx nor jsonschema."""
    code = (
        "import sys, sora2.contract._plugin; "
        "print(sorted(m for m in ('httpx', 'jsonschema', 'referencing') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True
    ).stdout
    assert out.strip() == "[]"


def test_violations_are_reported_when_the_test_fails_otherwise(pytester: pytest.Pytester) -> None:
    """A test whose own code raised still shows a "sora2 contract" section with the violation."""
    pytester.makepyfile(
        HEADER
        + """
def test_raises(sora2_contract):
    response = get(sora2_contract.transport(answer({"request_id": "abc"})))
    response.json()["status"]  # the service code trips over the broken answer
"""
    )
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    text = result.stdout.str()
    assert "KeyError" in text
    result.stdout.fnmatch_lines(
        [
            "*Captured sora2 contract call*",
            "*sora2 contract: 1 violation in 1 exchange*",
            "*response /body/status: 'status' is a required property*",
        ]
    )
