"""pytest plugin (entry point ``pytest11: sora2``): contract-check the traffic of a test.

The ``sora2_contract`` fixture returns a ``ContractRecorder``; wrap the transport of your
client with ``sora2_contract.transport(inner)`` (or ``.async_transport`` / ``.wrap``) and the
test fails, listing each violation, if any exchange broke the spec. To assert on violations
on purpose, inspect ``sora2_contract.violations`` and then call ``sora2_contract.clear()``.

Whenever a test's exchanges broke the spec, its report gains a "sora2 contract" section listing
them, whatever else failed: a test whose own code raised on a 422 shows the violation that
caused it beside its traceback.

A test that sends bad requests on purpose (to see the service refuse them) marks itself
``@pytest.mark.sora2_contract(request=False)``: its request-side violations are recorded but
do not fail it, while the answers it gets must still match the spec.

``--sora2-contract-log PATH`` (or ``$SORA2_CONTRACT_LOG``) appends every checked exchange to a
JSONL file that ``sora2 contract check`` reads. This module is imported by every pytest run
in an environment where sora2 is installed, so it imports nothing heavy until the fixture is
used.
"""

from __future__ import annotations

import os
from collections.abc import Generator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from ._transport import ContractRecorder

__all__ = [
    "ENV_LOG",
    "pytest_addoption",
    "pytest_configure",
    "pytest_runtest_call",
    "pytest_runtest_makereport",
    "sora2_contract",
]

ENV_LOG = "SORA2_CONTRACT_LOG"
_RECORDER = pytest.StashKey["ContractRecorder"]()
_FAILED_ON_VIOLATIONS = pytest.StashKey[bool]()
"""Set when the plugin itself failed the test: its message already lists the violations."""
_BOTH = frozenset({"request", "response"})


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("sora2", "sora2 contract checking")
    group.addoption(
        "--sora2-contract-log",
        metavar="PATH",
        default=None,
        help=f"append every exchange checked by the sora2_contract fixture to this JSONL file "
        f"(default: ${ENV_LOG})",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "sora2_contract(request=True, response=True): which sides' violations fail the test "
        "(the sora2_contract fixture records both)",
    )


@pytest.fixture
def sora2_contract(request: pytest.FixtureRequest) -> ContractRecorder:
    """A recorder whose transports check every exchange; the test fails on any violation."""
    from ._transport import ContractRecorder

    option = request.config.getoption("sora2_contract_log", default=None)
    log = option or os.environ.get(ENV_LOG) or None
    recorder = ContractRecorder(log=log, label=request.node.nodeid)
    request.node.stash[_RECORDER] = recorder
    return recorder


def failure_report(recorder: ContractRecorder, sides: frozenset[str] = _BOTH) -> str:
    """The failure message: each broken exchange, then its violations, one per line."""
    import httpx

    from ._contract import split_target
    from ._violations import format_violations

    broken = [
        (exchange, [v for v in exchange.violations if v.side in sides])
        for exchange in recorder.exchanges
    ]
    broken = [(exchange, found) for exchange, found in broken if found]
    count = sum(len(found) for _, found in broken)
    lines = [
        f"sora2 contract: {count} violation{'s' if count != 1 else ''} "
        f"in {len(broken)} exchange{'s' if len(broken) != 1 else ''}"
    ]
    for exchange, found in broken:
        path, _ = split_target(httpx.URL(exchange.url))
        status = f" -> {exchange.status}" if exchange.status is not None else " (not sent)"
        lines.append(f"{exchange.method} {path}{status}")
        lines.append(format_violations(found))
    return "\n".join(lines)


def _failing_sides(item: pytest.Item) -> frozenset[str]:
    """The sides whose violations fail ``item`` (its ``sora2_contract`` marker; both)."""
    marker = item.get_closest_marker("sora2_contract")
    options = marker.kwargs if marker is not None else {}
    return frozenset(side for side in _BOTH if options.get(side, True))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, object, object]:
    """After the test body passes, fail it if its recorder saw a violation."""
    result = yield
    recorder = item.stash.get(_RECORDER, None)
    if recorder is None or not recorder.violations:
        return result
    sides = _failing_sides(item)
    if any(violation.side in sides for violation in recorder.violations):
        item.stash[_FAILED_ON_VIOLATIONS] = True
        pytest.fail(failure_report(recorder, sides), pytrace=False)
    return result


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Attach a "sora2 contract" section to the report of a test that saw violations and
    failed for another reason (when the plugin failed it, its message is the list: once)."""
    recorder = item.stash.get(_RECORDER, None)
    ours = item.stash.get(_FAILED_ON_VIOLATIONS, False)
    if call.when == "call" and recorder is not None and recorder.violations and not ours:
        sides = _failing_sides(item)
        if any(violation.side in sides for violation in recorder.violations):
            item.add_report_section("call", "sora2 contract", failure_report(recorder, sides))
    report = yield
    return report
