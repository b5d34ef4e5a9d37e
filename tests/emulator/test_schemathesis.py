"""Schemathesis 4 against the emulator in process, with all its checks: it must find nothing.

The spec declares no OpenAPI links, so the stateful run uses a copy of it with links from
submit's request_id to status, result and cancel added here (test data, not the spec).
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
import schemathesis
from hypothesis import settings
from schemathesis.config import SchemathesisConfig
from schemathesis.core.failures import FailureGroup, MalformedJson

from sora2._spec import operation, spec_document
from sora2.emulator import create_app

TOKEN = "schemathesis-token"
MAX_EXAMPLES = 25

app = create_app(token=TOKEN)
config = SchemathesisConfig.from_dict(
    {
        "headers": {"Authorization": f"Bearer {TOKEN}"},
        "generation": {"max-examples": MAX_EXAMPLES, "mode": "all"},
        "seed": 20261124,
    }
)

schema = schemathesis.openapi.from_asgi("/openapi.json", app, config=config)


@schema.parametrize()
def test_every_operation_conforms(case: Any) -> None:
    """Positive and negative cases of every operation pass every Schemathesis check."""
    case.call_and_validate()


def _linked_spec() -> dict[str, Any]:
    raw = copy.deepcopy(spec_document())
    submit = operation("submit")
    responses = raw["paths"][submit.path][submit.method.lower()]["responses"]
    responses["200"]["links"] = {
        name.capitalize(): {
            "operationId": name,
            "parameters": {"request_id": "$response.body#/request_id"},
        }
        for name in ("status", "result", "cancel")
    }
    return raw


stateful_app = create_app(token=TOKEN)
stateful = schemathesis.openapi.from_dict(_linked_spec(), config=config)
stateful.app = stateful_app
Workflow = stateful.as_state_machine()
Workflow.TestCase.settings = settings(max_examples=15, stateful_step_count=6, deadline=None)


class TestWorkflow(Workflow.TestCase):  # type: ignore[misc,name-defined]
    """Sequences of submit -> status/result/cancel on real request ids pass every check."""


def test_the_stateful_run_followed_the_links() -> None:
    """The stateful run reached status, result and cancel with ids the emulator issued."""
    TestWorkflow("runTest").runTest()
    requests = stateful_app.stats.requests
    assert requests["submit"] > 0
    assert min(requests["status"], requests["result"], requests["cancel"]) > 0
    assert stateful_app.stats.statuses[200] > 0


def test_the_checks_do_catch_a_broken_answer() -> None:
    """Sanity check of the setup: the same checks flag a truncated (non-JSON) answer."""
    broken = schemathesis.openapi.from_dict(copy.deepcopy(spec_document()), config=config)
    broken.app = create_app(token=TOKEN, faults="status:truncate")
    status = operation("status")
    case = broken[status.path][status.method].Case(path_parameters={"request_id": "x"})
    with pytest.raises(FailureGroup) as caught:
        case.call_and_validate(headers={"Authorization": f"Bearer {TOKEN}"})
    assert any(isinstance(failure, MalformedJson) for failure in caught.value.exceptions)
