"""Fixtures for the contract checker's tests."""

from __future__ import annotations

import pytest
from contract_examples import EXAMPLES, Example

from sora2.contract import Contract, load_contract


def pytest_configure(config: pytest.Config) -> None:
    # ``pytest_plugins`` is refused outside the top-level conftest; this has the same effect.
    if not config.pluginmanager.has_plugin("pytester"):
        config.pluginmanager.import_plugin("pytester")


@pytest.fixture(scope="session")
def contract() -> Contract:
    return load_contract()


@pytest.fixture(params=EXAMPLES, ids=[e.name for e in EXAMPLES])
def example(request: pytest.FixtureRequest) -> Example:
    value: Example = request.param
    return value
