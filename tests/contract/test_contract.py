"""The checker's HTTP-level rules: matching URLs to operations, auth, bodies, statuses, headers."""

from __future__ import annotations

import copy
import json
from typing import Any

import httpx
import pytest
from contract_examples import TOKEN, build_request, request_body_examples, request_id_example

from sora2._inputs import input_fields
from sora2._spec import operation, operations, spec_document
from sora2.contract import (
    Contract,
    Violation,
    check_request,
    check_response,
    load_contract,
)


def pointers(found: list[Violation]) -> set[tuple[str, str]]:
    return {(v.pointer, v.rule) for v in found}


def status_body(request_id: str = "abc") -> dict[str, Any]:
    return {"request_id": request_id, "status": "in_queue"}


class TestMatching:
    @pytest.mark.parametrize("operation_id", sorted(operations()))
    def test_spec_paths_match_their_operation(self, contract: Contract, operation_id: str) -> None:
        """Each operation's own URL is recognised as that operation, with its path parameters."""
        op = operation(operation_id)
        params = {name: request_id_example() for name in op.parameters}
        found = contract.match(op.method, op.url_path(**params))
        assert found is not None
        assert operation_id == found.operation_id
        assert params == found.path_params

    def test_path_under_a_prefix_matches(self, contract: Contract) -> None:
        """The API may sit under a proxy's path prefix; the path's suffix decides."""
        found = contract.match("GET", "/gateway/runcomfy/v1/requests/abc/status")
        assert found is not None
        assert (found.operation_id, found.path_params) == ("status", {"request_id": "abc"})

    def test_percent_encoded_parameter_is_decoded(self, contract: Contract) -> None:
        """A request_id with an encoded slash is one parameter, handed over decoded."""
        found = contract.match("GET", "/v1/requests/a%2Fb/status")
        assert found is not None
        assert found.path_params == {"request_id": "a/b"}

    def test_path_must_end_with_the_template(self, contract: Contract) -> None:
        """A longer path that merely contains a template is not an API call."""
        assert contract.match("GET", "/v1/requests/abc/status/extra") is None

    def test_non_api_url_is_skipped(self) -> None:
        """A CDN or file-download URL is not checked at all, whatever it looks like."""
        request = httpx.Request("GET", "https://cdn.example/outputs/abc/video.mp4")
        response = httpx.Response(200, content=b"\x00\x00", headers={"content-type": "video/mp4"})
        assert check_request(request) == []
        assert check_response(request, response) == []

    def test_undocumented_method_on_an_api_path_is_flagged(self) -> None:
        """DELETE on the status path is an API path with a method the spec does not list."""
        request = httpx.Request("DELETE", "https://h/v1/requests/abc/status")
        assert {("/method", "method")} == pointers(check_request(request))

    def test_query_string_does_not_affect_matching(self, contract: Contract) -> None:
        """Matching uses the path only; an undeclared query parameter is allowed."""
        request = build_request("status")
        request = httpx.Request("GET", str(request.url) + "?verbose=1", headers=request.headers)
        assert contract.check_request(request) == []


class TestAuth:
    def test_missing_authorization_is_flagged(self, contract: Contract) -> None:
        """Every operation needs a bearer token; its absence is flagged at the header."""
        found = contract.check_request(build_request("status", token=None))
        assert {("/headers/authorization", "auth")} == pointers(found)

    def test_empty_bearer_token_is_flagged(self, contract: Contract) -> None:
        """``Authorization: Bearer`` with nothing after it is not a token."""
        request = build_request("status")
        request.headers["authorization"] = "Bearer   "
        assert {("/headers/authorization", "auth")} == pointers(contract.check_request(request))

    def test_other_scheme_is_flagged_without_echoing_it(self, contract: Contract) -> None:
        """A Basic credential is refused, and its value appears in no message."""
        request = build_request("status")
        request.headers["authorization"] = f"Basic {TOKEN}"
        found = contract.check_request(request)
        assert {("/headers/authorization", "auth")} == pointers(found)
        assert all(TOKEN not in str(v) and TOKEN not in repr(v) for v in found)

    def test_scheme_is_case_insensitive(self, contract: Contract) -> None:
        """``bearer`` in lower case is the Bearer scheme (RFC 7235)."""
        request = build_request("status")
        request.headers["authorization"] = f"bearer {TOKEN}"
        assert contract.check_request(request) == []

    def test_optional_security_accepts_no_credentials(self) -> None:
        """An operation whose security list holds an empty requirement needs no token."""
        document = copy.deepcopy(spec_document())
        document["paths"]["/v1/requests/{request_id}/status"]["get"]["security"] = [{}]
        found = load_contract(document).check_request(build_request("status", token=None))
        assert found == []


class TestRequestBody:
    def test_missing_body_is_flagged(self, contract: Contract) -> None:
        """submit's requestBody is required: an empty body is flagged at /body."""
        assert {("/body", "required")} == pointers(contract.check_request(build_request("submit")))

    def test_invalid_json_is_flagged(self, contract: Contract) -> None:
        """A body labelled JSON that does not parse is flagged at /body."""
        request = build_request("submit", body=b"{prompt:")
        assert {("/body", "json")} == pointers(contract.check_request(request))

    def test_content_type_parameters_are_ignored(self, contract: Contract) -> None:
        """``application/json; charset=utf-8`` is application/json."""
        body = next(iter(request_body_examples().values()))
        request = build_request("submit", body=body, content_type="Application/JSON; charset=utf-8")
        assert contract.check_request(request) == []

    def test_every_documented_choice_is_accepted(self, contract: Contract) -> None:
        """Each enum value of the generated Input model passes, so the checker and model agree."""
        body = next(iter(request_body_examples().values()))
        for field in input_fields().values():
            for choice in field.choices or ():
                request = build_request("submit", body={**body, field.name: choice})
                assert contract.check_request(request) == [], (field.name, choice)

    def test_unknown_fields_are_allowed(self, contract: Contract) -> None:
        """The Input schema is open: a field added later by the service is not a violation."""
        body = {**next(iter(request_body_examples().values())), "future_field": True}
        assert contract.check_request(build_request("submit", body=body)) == []

    def test_streamed_request_body_is_read(self, contract: Contract) -> None:
        """A request built from an iterator is read before checking, not skipped."""
        body = json.dumps({"prompt": ""}).encode()
        request = httpx.Request(
            "POST",
            "https://h" + operation("submit").path,
            headers={"authorization": f"Bearer {TOKEN}", "content-type": "application/json"},
            content=iter([body]),
        )
        assert ("/body/prompt", "minLength") in pointers(contract.check_request(request))


class TestResponse:
    def test_range_and_default_statuses_are_documented(self) -> None:
        """``5XX`` covers 599 and ``default`` covers anything else."""
        document = copy.deepcopy(spec_document())
        responses = document["paths"]["/v1/requests/{request_id}/status"]["get"]["responses"]
        responses["5XX"] = responses.pop("500")
        responses["default"] = responses["400"]
        custom = load_contract(document)
        request = build_request("status")
        error = {"error_code": 599001, "message": "x"}
        assert custom.check_response(request, httpx.Response(599, json=error)) == []
        assert custom.check_response(request, httpx.Response(418, json=error)) == []

    def test_required_header_is_flagged(self, contract: Contract) -> None:
        """A 429 without the Retry-After the spec requires is flagged at that header."""
        response = httpx.Response(429, json={"error_code": 429001, "message": "slow down"})
        found = contract.check_response(build_request("status"), response)
        assert {("/headers/retry-after", "required")} == pointers(found)

    def test_header_value_is_checked_against_its_schema(self, contract: Contract) -> None:
        """Retry-After must be a non-negative integer: ``soon`` is flagged as a type error."""
        response = httpx.Response(
            429,
            json={"error_code": 429001, "message": "slow down"},
            headers={"Retry-After": "soon"},
        )
        found = contract.check_response(build_request("status"), response)
        assert {("/headers/retry-after", "type")} == pointers(found)

    def test_html_gateway_page_needs_only_its_type(self, contract: Contract) -> None:
        """A 502 is documented as text/html; its page is not parsed."""
        response = httpx.Response(502, html="<html><body>Bad Gateway</body></html>")
        assert contract.check_response(build_request("status"), response) == []

    def test_unknown_state_is_accepted(self, contract: Contract) -> None:
        """States are an open enum: a state the spec does not list yet is not a violation."""
        body = {"request_id": "abc", "status": "moderating"}
        assert (
            contract.check_response(build_request("status"), httpx.Response(200, json=body)) == []
        )

    def test_uri_format_is_checked(self, contract: Contract) -> None:
        """A status_url that is not a URI is flagged as a format error."""
        status = {**status_body(), "status_url": "not a uri"}
        found = contract.check_response(build_request("status"), httpx.Response(200, json=status))
        assert {("/body/status_url", "format")} == pointers(found)

    def test_unread_response_is_read(self, contract: Contract) -> None:
        """A streamed response is read before its body is checked."""
        content = json.dumps({"request_id": "abc"}).encode()
        response = httpx.Response(
            200, headers={"content-type": "application/json"}, stream=httpx.ByteStream(content)
        )
        found = contract.check_response(build_request("status"), response)
        assert {("/body/status", "required")} == pointers(found)

    def test_documented_empty_response_rejects_a_body(self) -> None:
        """A status documented without content must come without a body."""
        document = copy.deepcopy(spec_document())
        responses = document["paths"]["/v1/requests/{request_id}/cancel"]["post"]["responses"]
        responses["204"] = {"description": "cancelled"}
        custom = load_contract(document)
        request = build_request("cancel")
        assert custom.check_response(request, httpx.Response(204)) == []
        assert {("/body", "content")} == pointers(
            custom.check_response(request, httpx.Response(204, content=b"x"))
        )

    def test_long_messages_are_one_capped_line(self, contract: Contract) -> None:
        """A huge wrong value yields a short one-line message, not the value in full."""
        body = {"request_id": ["x\n" * 5000], "status": "in_queue"}
        found = contract.check_response(build_request("status"), httpx.Response(200, json=body))
        assert len(found) == 1
        assert "\n" not in found[0].message
        assert len(found[0].message) <= 200


class TestSpecDriven:
    def test_new_enum_value_in_the_spec_is_accepted(self) -> None:
        """Adding a choice to the spec is all it takes for the checker to accept it."""
        document = copy.deepcopy(spec_document())
        prop = next(
            p
            for p in document["components"]["schemas"]["Input"]["properties"].values()
            if "enum" in p and isinstance(p["enum"][0], str)
        )
        new_value = "spec-added-choice"
        prop["enum"].append(new_value)
        name = next(
            n
            for n, p in document["components"]["schemas"]["Input"]["properties"].items()
            if p is prop
        )
        body = {**next(iter(request_body_examples().values())), name: new_value}
        assert load_contract(document).check_request(build_request("submit", body=body)) == []
        assert {(f"/body/{name}", "enum")} == pointers(
            load_contract().check_request(build_request("submit", body=body))
        )

    def test_declared_query_parameter_is_checked(self) -> None:
        """A required integer query parameter is parsed from text and validated."""
        document = copy.deepcopy(spec_document())
        document["paths"]["/v1/requests/{request_id}/status"]["get"]["parameters"] = [
            {"name": "wait", "in": "query", "required": True, "schema": {"type": "integer"}}
        ]
        custom = load_contract(document)
        base = build_request("status")
        url = str(base.url)
        assert {("/query/wait", "required")} == pointers(custom.check_request(base))
        good = httpx.Request("GET", url + "?wait=5", headers=base.headers)
        assert custom.check_request(good) == []
        bad = httpx.Request("GET", url + "?wait=soon", headers=base.headers)
        assert {("/query/wait", "type")} == pointers(custom.check_request(bad))

    def test_recursive_schema_resolves_through_the_registry(self) -> None:
        """A self-referencing schema is validated through the registry, at any depth."""
        document = copy.deepcopy(spec_document())
        schemas = document["components"]["schemas"]
        schemas["Node"] = {
            "type": "object",
            "properties": {
                "child": {"$ref": "#/components/schemas/Node"},
                "n": {"type": "integer"},
            },
        }
        schemas["RequestStatus"]["properties"]["tree"] = {"$ref": "#/components/schemas/Node"}
        custom = load_contract(document)
        body = {**status_body(), "tree": {"child": {"child": {"n": "deep"}}}}
        found = custom.check_response(build_request("status"), httpx.Response(200, json=body))
        assert {("/body/tree/child/child/n", "type")} == pointers(found)

    def test_default_contract_is_compiled_once(self) -> None:
        """load_contract() without a document returns one shared, compiled instance."""
        assert load_contract() is load_contract()
