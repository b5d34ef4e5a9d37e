"""Mutation tests: the spec's own examples pass, and each deliberate break is caught where it is.

Every exchange here is derived from the spec (its examples, its schemas' ``required`` lists,
enums and types), so a field or an example added to the spec is covered without editing this.
"""

from __future__ import annotations

import copy
from typing import Any

import httpx
import pytest
from contract_examples import EXAMPLES, Example, build_request, request_body_examples

from sora2._spec import operation, operations, resolve, spec_document
from sora2.contract import Contract


def _schema_of(example: Example) -> dict[str, Any]:
    response = resolve(operation(example.operation_id).raw["responses"][str(example.status)])
    schema: dict[str, Any] = resolve(response["content"][example.media_type]["schema"])
    return schema


def _branches(schema: dict[str, Any]) -> list[dict[str, Any]]:
    """The object schemas a body must satisfy one of (``anyOf``/``oneOf``), or the schema."""
    alternatives = schema.get("anyOf") or schema.get("oneOf")
    if alternatives:
        return [_merged(resolve(branch)) for branch in alternatives]
    return [_merged(schema)]


def _merged(schema: dict[str, Any]) -> dict[str, Any]:
    """An ``allOf`` schema as one: the union of its parts' required fields and properties."""
    parts = [schema, *(_merged(resolve(p)) for p in schema.get("allOf", []))]
    return {
        "required": sorted({r for p in parts for r in p.get("required", [])}),
        "properties": {k: v for p in parts for k, v in p.get("properties", {}).items()},
    }


def constrained(schema: dict[str, Any]) -> tuple[set[str], set[str]]:
    """Fields every alternative requires, and fields every alternative gives a schema to."""
    branches = _branches(schema)
    required = set.intersection(*(set(b.get("required", [])) for b in branches))
    typed = set.intersection(*(set(b.get("properties", {})) for b in branches))
    return required, typed


def wrong_type(value: Any) -> Any:
    """A value of another JSON type than ``value``."""
    if isinstance(value, str):
        return 12345
    if isinstance(value, bool | int | float):
        return "12345"
    return "not-an-object-or-array"


def pointers(found: list[Any]) -> set[tuple[str, str]]:
    return {(v.pointer, v.rule) for v in found}


JSON_OBJECT_EXAMPLES = [e for e in EXAMPLES if isinstance(e.body, dict)]


class TestValidExamples:
    def test_every_response_example_is_valid(self, contract: Contract, example: Example) -> None:
        """Each example the spec documents, sent as documented, breaks nothing."""
        request = example.request()
        assert contract.check(request, example.response()) == []

    @pytest.mark.parametrize("name", sorted(request_body_examples()))
    def test_every_request_example_is_valid(self, contract: Contract, name: str) -> None:
        """Each documented submit body passes the request check."""
        request = build_request("submit", body=request_body_examples()[name])
        assert contract.check_request(request) == []

    def test_examples_cover_every_operation(self) -> None:
        """The example set reaches every operation, so nothing is left unchecked."""
        assert set(operations()) == {e.operation_id for e in EXAMPLES}


def _request_cases() -> list[tuple[str, dict[str, Any], str, str]]:
    """(id, body, pointer, rule) for each break of the submit body the Input schema allows."""
    schema = resolve(spec_document()["components"]["schemas"]["Input"])
    full: dict[str, Any] = {}
    for body in request_body_examples().values():
        full.update(body)
    cases = []
    for name in schema.get("required", []):
        body = {k: v for k, v in full.items() if k != name}
        cases.append((f"missing-{name}", body, f"/body/{name}", "required"))
    for name, prop in schema.get("properties", {}).items():
        prop = resolve(prop)
        if "enum" in prop:
            choices = prop["enum"]
            bad = "not-a-choice" if isinstance(choices[0], str) else max(choices) + 1
            cases.append((f"enum-{name}", {**full, name: bad}, f"/body/{name}", "enum"))
        if "type" in prop:
            # From the schema's type, not from a sample: a new property has no example yet.
            bad = 12345 if prop["type"] == "string" else wrong_type(12345)
            cases.append((f"type-{name}", {**full, name: bad}, f"/body/{name}", "type"))
    return cases


REQUEST_CASES = _request_cases()


class TestRequestMutations:
    @pytest.mark.parametrize(
        ("body", "pointer", "rule"),
        [case[1:] for case in REQUEST_CASES],
        ids=[case[0] for case in REQUEST_CASES],
    )
    def test_broken_body_is_caught(
        self, contract: Contract, body: dict[str, Any], pointer: str, rule: str
    ) -> None:
        """A missing field, an enum value or a type the schema refuses is flagged at its field."""
        found = contract.check_request(build_request("submit", body=body))
        assert (pointer, rule) in pointers(found)
        assert {"request"} == {v.side for v in found}
        assert {"submit"} == {v.operation_id for v in found}

    def test_cases_cover_each_kind_of_break(self) -> None:
        """The derived cases include a missing field, a wrong enum value and a wrong type."""
        assert {"required", "enum", "type"} <= {case[3] for case in REQUEST_CASES}

    def test_wrong_content_type_is_caught(self, contract: Contract) -> None:
        """A JSON body labelled text/plain is flagged at the Content-Type header."""
        body = next(iter(request_body_examples().values()))
        request = build_request("submit", body=body, content_type="text/plain")
        assert {("/headers/content-type", "content-type")} == pointers(
            contract.check_request(request)
        )

    def test_missing_content_type_is_caught(self, contract: Contract) -> None:
        """A body with no Content-Type at all is flagged at the Content-Type header."""
        body = next(iter(request_body_examples().values()))
        request = build_request("submit", body=body, content_type=None)
        assert {("/headers/content-type", "content-type")} == pointers(
            contract.check_request(request)
        )


def _response_field_cases() -> list[tuple[str, Example, dict[str, Any], str, str]]:
    cases = []
    for example in JSON_OBJECT_EXAMPLES:
        required, typed = constrained(_schema_of(example))
        for name in sorted(required):
            body = {k: v for k, v in example.body.items() if k != name}
            cases.append(
                (f"{example.name}-missing-{name}", example, body, f"/body/{name}", "required")
            )
        for name in sorted(typed & set(example.body)):
            body = {**copy.deepcopy(example.body), name: wrong_type(example.body[name])}
            cases.append((f"{example.name}-type-{name}", example, body, f"/body/{name}", "type"))
    return cases


RESPONSE_CASES = _response_field_cases()


class TestResponseMutations:
    @pytest.mark.parametrize(
        ("example", "body", "pointer", "rule"),
        [case[1:] for case in RESPONSE_CASES],
        ids=[case[0] for case in RESPONSE_CASES],
    )
    def test_broken_body_is_caught(
        self, contract: Contract, example: Example, body: dict[str, Any], pointer: str, rule: str
    ) -> None:
        """A missing required field or a field of the wrong type is flagged at that field."""
        found = contract.check_response(example.request(), example.response(body=body))
        assert (pointer, rule) in pointers(found)
        assert {example.status} == {v.status for v in found}

    def test_cases_cover_every_json_example(self) -> None:
        """Each JSON example yields at least one break, so no response shape goes unmutated."""
        assert {e.name for e in JSON_OBJECT_EXAMPLES} == {case[1].name for case in RESPONSE_CASES}

    @pytest.mark.parametrize("operation_id", sorted(operations()))
    def test_undocumented_status_is_caught(self, contract: Contract, operation_id: str) -> None:
        """A status the operation does not document is flagged at /status, body unchecked."""
        documented = {str(s).upper() for s in operation(operation_id).raw["responses"]}
        status = next(
            code
            for code in range(200, 600)
            if str(code) not in documented and f"{code // 100}XX" not in documented
        )
        example = next(e for e in EXAMPLES if e.operation_id == operation_id)
        response = example.response()
        response.status_code = status
        assert {("/status", "status")} == pointers(
            contract.check_response(example.request(), response)
        )

    def test_wrong_content_type_is_caught(self, contract: Contract, example: Example) -> None:
        """A documented body served under an undocumented media type is flagged at the header."""
        wrong = "application/xml" if example.media_type != "application/xml" else "text/plain"
        response = example.response(content_type=wrong)
        found = contract.check_response(example.request(), response)
        assert {("/headers/content-type", "content-type")} == pointers(found)

    def test_body_that_is_not_json_is_caught(self, contract: Contract) -> None:
        """A JSON response whose body does not parse is flagged at /body."""
        example = next(e for e in EXAMPLES if e.media_type == "application/json")
        response = example.response(body="{not json")
        assert {("/body", "json")} == pointers(contract.check_response(example.request(), response))


class TestResultShapes:
    def test_completed_result_with_malformed_output_is_caught(self, contract: Contract) -> None:
        """A result carrying an unreadable `output` cannot pass as the pending shape."""
        request = build_request("result")
        body = {"request_id": "r1", "status": "completed", "output": "not-an-object"}
        response = httpx.Response(200, json=body, request=request)
        found = contract.check_response(request, response)
        assert found, "a malformed output must be a violation"
        assert {200} == {v.status for v in found}

    def test_pending_result_without_output_passes(self, contract: Contract) -> None:
        """The current state, with no output, is a valid answer of `result`."""
        request = build_request("result")
        response = httpx.Response(
            200, json={"request_id": "r1", "status": "in_queue"}, request=request
        )
        assert [] == contract.check_response(request, response)
