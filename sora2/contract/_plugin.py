"""pytest plugin (entry point ``pytest11: sora2``): contract-check the traffic of a test.

The ``sora2_contract`` fixture returns a ``ContractRecorder``; wrap the transport of your
client with ``sora2_contract.transport(inner)`` (or ``.async_transport`` / ``.wrap``) and the
test fails, listing each violation, if any exchange broke the spec. To assert on violations
on purpose, inspect ``sora2_contract.violations`` and then call ``sora2_contract.clear()``.

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

__all__ = ["ENV_LOG", "pytest_addoption", "pytest_runtest_call", "sora2_contract"]

ENV_LOG = "SORA2_CONTRACT_LOG"
_RECORDER = pytest.StashKey["ContractRecorder"]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("sora2", "sora2 contract checking")
    group.addoption(
        "--sora2-contract-log",
        metavar="PATH",
        default=None,
        help=f"append every exchange checked by the sora2_contract fixture to this JSONL file "
        f"(default: ${ENV_LOG})",
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


def failure_report(recorder: ContractRecorder) -> str:
    """The failure message: each broken exchange, then its violations, one per line."""
    import httpx

    from ._contract import split_target
    from ._violations import format_violations

    broken = [exchange for exchange in recorder.exchanges if exchange.violations]
    count = sum(len(exchange.violations) for exchange in broken)
    lines = [
        f"sora2 contract: {count} violation{'s' if count != 1 else ''} "
        f"in {len(broken)} exchange{'s' if len(broken) != 1 else ''}"
    ]
    for exchange in broken:
        path, _ = split_target(httpx.URL(exchange.url))
        status = f" -> {exchange.status}" if exchange.status is not None else " (not sent)"
        lines.append(f"{exchange.method} {path}{status}")
        lines.append(format_violations(exchange.violations))
    return "\n".join(lines)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, object, object]:
    """After the test body passes, fail it if its recorder saw a violation."""
    result = yield
    recorder = item.stash.get(_RECORDER, None)
    if recorder is not None and recorder.violations:
        pytest.fail(failure_report(recorder), pytrace=False)
    return result
