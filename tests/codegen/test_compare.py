"""``codegen._compare``: pairs of spec versions, one per kind of change, each classified for
clients and for servers.

Each pair is the real spec and a copy edited in code, so the pairs follow the spec as it grows.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from _codegen_support import (
    CANCEL_PATH,
    METHODS,
    NEW_OPTIONAL,
    NEW_REQUIRED,
    NEW_SECONDS,
    NEW_STATE,
    STATUS_PATH,
    SUBMIT_PATH,
    Doc,
    op,
    prop,
    schemas,
    set_key,
    spec_document,
)

from codegen._compare import KINDS, Change, compare_documents

_set = set_key


def _close_state(doc: Doc) -> None:
    """Make the state a closed enum, as a spec without the open-enum pattern would have it."""
    for name in ("RequestStatus", "RequestResult"):
        prop(doc, name, "status").clear()
        prop(doc, name, "status")["$ref"] = "#/components/schemas/KnownRequestState"


def _close_input(doc: Doc) -> None:
    schemas(doc)["Input"]["additionalProperties"] = False


def _add_query(required: bool) -> Callable[[Doc], None]:
    def edit(doc: Doc) -> None:
        op(doc, STATUS_PATH)["parameters"] = [
            {"name": "verbose", "in": "query", "required": required, "schema": {"type": "boolean"}}
        ]

    return edit


def _add_multipart(doc: Doc) -> None:
    content = op(doc, SUBMIT_PATH)["requestBody"]["content"]
    content["multipart/form-data"] = {"schema": {"$ref": "#/components/schemas/Input"}}


def _rename_input(doc: Doc) -> None:
    schemas(doc)["SubmitInput"] = schemas(doc).pop("Input")
    body = op(doc, SUBMIT_PATH)["requestBody"]["content"]["application/json"]
    body["schema"]["$ref"] = "#/components/schemas/SubmitInput"


def _move(doc: Doc) -> None:
    doc["paths"]["/v2/requests/{request_id}/status"] = doc["paths"].pop(STATUS_PATH)


def _method(doc: Doc) -> None:
    doc["paths"][CANCEL_PATH]["delete"] = doc["paths"][CANCEL_PATH].pop("post")


def _add_operation(doc: Doc) -> None:
    item = copy.deepcopy(doc["paths"][STATUS_PATH])
    item["get"]["operationId"] = "logs"
    doc["paths"]["/v1/requests/{request_id}/logs"] = item


@dataclass(frozen=True)
class Case:
    """An edit of the spec and how its main change must be classified."""

    name: str
    edit: Callable[[Doc], None]
    kind: str
    clients: bool
    servers: bool
    prepare: Callable[[Doc], None] | None = None  # applied to OLD and NEW alike
    note: str | None = None  # expected in the change's generated-client note
    where: str = ""  # expected in the change's location


def _delete(path: Callable[[Doc], dict[str, Any]], key: str) -> Callable[[Doc], None]:
    def edit(doc: Doc) -> None:
        del path(doc)[key]

    return edit


def _all(*edits: Callable[[Doc], None]) -> Callable[[Doc], None]:
    def edit(doc: Doc) -> None:
        for each in edits:
            each(doc)

    return edit


def _input(doc: Doc) -> dict[str, Any]:
    found: dict[str, Any] = schemas(doc)["Input"]
    return found


CASES = [
    # Enums: a request enum that loses a value breaks clients; one that gains a value breaks
    # old servers; a response enum that gains a value breaks exhaustive clients.
    Case(
        "request-enum-value-removed",
        lambda d: prop(d, "Input", "size")["enum"].remove("1280x720"),
        "enum-value-removed",
        True,
        False,
        where="Input.size",
    ),
    Case(
        "request-enum-value-added",
        lambda d: prop(d, "Input", "seconds")["enum"].append(NEW_SECONDS),
        "enum-value-added",
        False,
        True,
        where="Input.seconds",
    ),
    Case(
        "response-open-enum-value-added",
        lambda d: schemas(d)["KnownRequestState"]["enum"].append(NEW_STATE),
        "enum-value-added",
        True,
        False,
        note="tolerated",
        where="RequestStatus.status",
    ),
    Case(
        "response-closed-enum-value-added",
        lambda d: schemas(d)["KnownRequestState"]["enum"].append(NEW_STATE),
        "enum-value-added",
        True,
        False,
        prepare=_close_state,
        note="breaks",
        where="RequestStatus.status",
    ),
    Case(
        "response-enum-value-removed",
        lambda d: schemas(d)["KnownRequestState"]["enum"].remove("cancelled"),
        "enum-value-removed",
        False,
        True,
    ),
    Case(
        "request-enum-added",
        _set(lambda d: prop(d, "Input", "prompt"), "enum", ["a", "b"]),
        "enum-added",
        True,
        False,
    ),
    Case(
        "request-enum-dropped",
        _delete(lambda d: prop(d, "Input", "seconds"), "enum"),
        "enum-removed",
        False,
        True,
    ),
    # Properties.
    Case(
        "request-required-property-added",
        _all(
            _set(lambda d: _input(d)["properties"], NEW_REQUIRED, {"type": "string"}),
            lambda d: _input(d)["required"].append(NEW_REQUIRED),
        ),
        "property-added",
        True,
        False,
        where=f"Input.{NEW_REQUIRED}",
    ),
    Case(
        "request-optional-property-added",
        _set(lambda d: _input(d)["properties"], NEW_OPTIONAL, {"type": "integer"}),
        "property-added",
        False,
        False,
    ),
    Case(
        "request-optional-property-added-to-closed-object",
        _set(lambda d: _input(d)["properties"], NEW_OPTIONAL, {"type": "integer"}),
        "property-added",
        False,
        True,
        prepare=_close_input,
    ),
    Case(
        "request-property-removed",
        _delete(lambda d: _input(d)["properties"], "seconds"),
        "property-removed",
        False,
        False,
    ),
    Case(
        "request-property-removed-from-closed-object",
        _delete(lambda d: _input(d)["properties"], "seconds"),
        "property-removed",
        True,
        False,
        prepare=_close_input,
    ),
    Case(
        "request-property-now-required",
        lambda d: _input(d)["required"].append("size"),
        "property-required-changed",
        True,
        False,
    ),
    Case(
        "request-property-now-optional",
        lambda d: _input(d)["required"].remove("prompt"),
        "property-required-changed",
        False,
        True,
    ),
    Case(
        "response-optional-property-added",
        _set(lambda d: schemas(d)["RequestStatus"]["properties"], "eta", {"type": "integer"}),
        "property-added",
        False,
        False,
    ),
    Case(
        "response-required-property-added",
        _all(
            _set(lambda d: schemas(d)["SubmitResponse"]["properties"], "eta", {"type": "integer"}),
            lambda d: schemas(d)["SubmitResponse"]["required"].append("eta"),
        ),
        "property-added",
        False,
        True,
    ),
    Case(
        "response-required-property-removed",
        _all(
            _delete(lambda d: schemas(d)["SubmitResponse"]["properties"], "cancel_url"),
            lambda d: schemas(d)["SubmitResponse"]["required"].remove("cancel_url"),
        ),
        "property-removed",
        True,
        False,
    ),
    Case(
        "response-property-now-optional",
        lambda d: schemas(d)["SubmitResponse"]["required"].remove("cancel_url"),
        "property-required-changed",
        True,
        False,
    ),
    Case(
        "request-additional-properties-refused",
        _close_input,
        "additional-properties-changed",
        True,
        False,
    ),
    Case(
        "response-additional-properties-refused",
        _set(lambda d: schemas(d)["Error"], "additionalProperties", False),
        "additional-properties-changed",
        False,
        True,
        where="responses 400, 401",
    ),
    # Types, formats, constraints, defaults.
    Case(
        "type-changed",
        _set(lambda d: prop(d, "RequestStatus", "queue_position"), "type", "string"),
        "type-changed",
        True,
        True,
    ),
    Case(
        "request-type-widened",
        _set(lambda d: prop(d, "Input", "prompt"), "type", ["string", "null"]),
        "type-changed",
        False,
        True,
    ),
    Case(
        "format-changed",
        _set(lambda d: prop(d, "SubmitResponse", "status_url"), "format", "uri-reference"),
        "format-changed",
        True,
        True,
    ),
    Case(
        "response-format-removed",
        _delete(lambda d: prop(d, "RequestResult", "created_at"), "format"),
        "format-changed",
        True,
        False,
    ),
    Case(
        "request-bound-tightened",
        _set(lambda d: prop(d, "Input", "prompt"), "minLength", 10),
        "constraint-changed",
        True,
        False,
    ),
    Case(
        "request-bound-loosened",
        _delete(lambda d: prop(d, "Input", "prompt"), "minLength"),
        "constraint-changed",
        False,
        True,
    ),
    Case(
        "response-bound-added",
        _set(lambda d: prop(d, "RequestStatus", "queue_position"), "maximum", 1000),
        "constraint-changed",
        False,
        True,
    ),
    Case(
        "request-pattern-added",
        _set(lambda d: prop(d, "Input", "size"), "pattern", "^[0-9]+x[0-9]+$"),
        "constraint-changed",
        True,
        False,
    ),
    Case(
        "request-default-changed",
        _set(lambda d: prop(d, "Input", "seconds"), "default", 8),
        "default-changed",
        True,
        True,
    ),
    Case(
        "response-one-of-branch-added",
        lambda d: schemas(d)["ResultResponse"]["anyOf"].append(
            {"$ref": "#/components/schemas/Error"}
        ),
        "composition-changed",
        True,
        False,
    ),
    Case(
        "response-one-of-branch-removed",
        lambda d: schemas(d)["ResultResponse"]["anyOf"].pop(),
        "composition-changed",
        False,
        True,
    ),
    Case(
        "unknown-keyword-changed",
        _set(lambda d: prop(d, "Input", "prompt"), "not", {"const": ""}),
        "schema-changed",
        True,
        True,
    ),
    Case("schema-renamed", _rename_input, "schema-renamed", True, False, note="renamed"),
    # Operations and their parts.
    Case(
        "operation-removed",
        lambda d: d["paths"].pop(CANCEL_PATH),
        "operation-removed",
        True,
        False,
    ),
    Case("operation-added", _add_operation, "operation-added", False, True),
    Case("path-changed", _move, "operation-moved", True, True),
    Case("method-changed", _method, "operation-moved", True, True),
    Case(
        "operation-id-changed",
        _set(lambda d: op(d, STATUS_PATH), "operationId", "get_status"),
        "operation-id-changed",
        True,
        False,
        note="operationId",
    ),
    Case(
        "security-dropped",
        _set(lambda d: op(d, SUBMIT_PATH), "security", []),
        "security-changed",
        False,
        True,
    ),
    Case(
        "security-required",
        _set(lambda d: op(d, SUBMIT_PATH), "security", [{"bearerAuth": []}]),
        "security-changed",
        True,
        False,
        prepare=_set(lambda d: d, "security", []),
    ),
    Case(
        "security-scheme-changed",
        _set(
            lambda d: d["components"]["securitySchemes"],
            "bearerAuth",
            {"type": "apiKey", "in": "header", "name": "X-Api-Key"},
        ),
        "security-scheme-changed",
        True,
        True,
    ),
    Case(
        "security-scheme-removed",
        _set(lambda d: d["components"], "securitySchemes", {}),
        "security-scheme-removed",
        True,
        True,
    ),
    Case(
        "security-scheme-added",
        _set(
            lambda d: d["components"]["securitySchemes"],
            "apiKey",
            {"type": "apiKey", "in": "header", "name": "X-Api-Key"},
        ),
        "security-scheme-added",
        False,
        False,
    ),
    Case(
        "server-removed",
        _set(lambda d: d, "servers", [{"url": "https://api.example.test"}]),
        "server-removed",
        True,
        False,
    ),
    Case(
        "server-added",
        lambda d: d["servers"].append({"url": "https://eu.example.test"}),
        "server-added",
        False,
        False,
    ),
    Case(
        "server-default-changed",
        lambda d: d["servers"].insert(0, {"url": "https://eu.example.test"}),
        "server-default-changed",
        False,
        False,
        note="first server",
    ),
    Case("required-parameter-added", _add_query(True), "parameter-added", True, False),
    Case("optional-parameter-added", _add_query(False), "parameter-added", False, False),
    Case(
        "required-parameter-removed",
        _delete(lambda d: op(d, STATUS_PATH), "parameters"),
        "parameter-removed",
        False,
        True,
        prepare=_add_query(True),
    ),
    Case(
        "parameter-now-required",
        _add_query(True),
        "parameter-required-changed",
        True,
        False,
        prepare=_add_query(False),
    ),
    Case(
        "parameter-style-changed",
        lambda d: op(d, STATUS_PATH)["parameters"][0].update(style="deepObject"),
        "parameter-changed",
        True,
        True,
        prepare=_add_query(False),
    ),
    Case(
        "parameter-schema-tightened",
        _set(lambda d: d["components"]["parameters"]["RequestId"]["schema"], "minLength", 36),
        "constraint-changed",
        True,
        False,
        where="path parameter request_id",
    ),
    Case(
        "request-body-now-optional",
        _set(lambda d: op(d, SUBMIT_PATH)["requestBody"], "required", False),
        "request-body-required-changed",
        False,
        True,
    ),
    Case(
        "request-body-removed",
        _delete(lambda d: op(d, SUBMIT_PATH), "requestBody"),
        "request-body-removed",
        False,
        True,
    ),
    Case(
        "request-body-added",
        _set(
            lambda d: op(d, CANCEL_PATH),
            "requestBody",
            {"required": True, "content": {"application/json": {"schema": {"type": "object"}}}},
        ),
        "request-body-added",
        True,
        False,
    ),
    Case("request-media-type-added", _add_multipart, "media-type-added", False, True),
    Case(
        "request-media-type-removed",
        lambda d: op(d, SUBMIT_PATH)["requestBody"]["content"].pop("multipart/form-data"),
        "media-type-removed",
        True,
        False,
        prepare=_add_multipart,
    ),
    Case(
        "response-media-type-added",
        lambda d: d["components"]["responses"]["InternalError"]["content"].update(
            {"text/plain": {"schema": {"type": "string"}}}
        ),
        "media-type-added",
        True,
        False,
    ),
    Case(
        "error-status-added",
        _set(lambda d: op(d, STATUS_PATH)["responses"], "410", {"description": "Gone"}),
        "response-added",
        False,
        False,
        note="parsed=None",
    ),
    Case(
        "success-status-added",
        _set(lambda d: op(d, STATUS_PATH)["responses"], "202", {"description": "Later"}),
        "response-added",
        True,
        False,
    ),
    Case(
        "status-removed",
        _delete(lambda d: op(d, STATUS_PATH)["responses"], "503"),
        "response-removed",
        False,
        True,
    ),
    Case(
        "response-header-removed",
        _delete(
            lambda d: d["components"]["responses"]["TooManyRequests"]["headers"], "Retry-After"
        ),
        "header-removed",
        True,
        False,
    ),
    Case(
        "required-response-header-added",
        _set(
            lambda d: d["components"]["responses"]["InternalError"]["headers"],
            "X-Trace",
            {"required": True, "schema": {"type": "string"}},
        ),
        "header-added",
        False,
        True,
    ),
    Case(
        "response-header-now-optional",
        _set(lambda d: d["components"]["headers"]["RetryAfter"], "required", False),
        "header-required-changed",
        True,
        False,
    ),
    # Components no operation uses: only generated models are at stake.
    Case(
        "unused-component-changed",
        _set(lambda d: schemas(d)["HostedFileUrl"], "pattern", "^http"),
        "constraint-changed",
        False,
        False,
        where="used by no operation",
    ),
    Case(
        "unused-component-removed",
        lambda d: schemas(d).pop("HostedVideoUrl"),
        "component-removed",
        True,
        False,
    ),
    Case(
        "unused-component-added",
        _set(lambda d: schemas(d), "HostedAudioUrl", {"type": "string"}),
        "component-added",
        False,
        False,
    ),
    # Documentation alone.
    Case(
        "description-changed",
        _set(lambda d: _input(d), "description", "What to render."),
        "documentation-changed",
        False,
        False,
    ),
    Case(
        "title-changed",
        _set(lambda d: prop(d, "Input", "size"), "title", "Frame size"),
        "title-changed",
        False,
        False,
    ),
    Case(
        "extension-changed",
        _set(lambda d: schemas(d)["HostedImageUrl"], "x-max-bytes", 1),
        "extension-changed",
        False,
        False,
    ),
    Case(
        "operation-deprecated",
        _set(lambda d: op(d, STATUS_PATH), "deprecated", True),
        "deprecated-changed",
        False,
        False,
    ),
    Case(
        "info-version-changed",
        _set(lambda d: d["info"], "version", "1.1.0"),
        "info-changed",
        False,
        False,
    ),
]


def _pair(case: Case) -> tuple[Doc, Doc]:
    old = spec_document()
    if case.prepare:
        case.prepare(old)
    new = copy.deepcopy(old)
    case.edit(new)
    return old, new


def _main_changes(case: Case, changes: list[Change]) -> list[Change]:
    return [c for c in changes if c.kind == case.kind and case.where in c.location]


class TestClassification:
    def test_every_kind_has_a_case(self) -> None:
        """Each kind of change the comparer can report is exercised by at least one pair."""
        assert set(KINDS) == {case.kind for case in CASES}

    @pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
    def test_case(self, case: Case) -> None:
        """The edit is reported with the expected kind and its client/server classification,
        and nothing else in the pair breaks anyone."""
        changes = compare_documents(*_pair(case))
        main_changes = _main_changes(case, changes)
        assert main_changes, [(c.kind, c.location) for c in changes]
        for change in main_changes:
            assert (case.clients, case.servers) == (change.breaks_clients, change.breaks_servers), (
                change
            )
            if case.note:
                assert case.note in (change.generated_client or ""), change
        others = [c for c in changes if c not in main_changes and c.breaking]
        expected_others = {"server-added"} if case.kind == "server-removed" else set()
        assert {c.kind for c in others} <= expected_others | {case.kind}, others

    def test_identical_documents(self) -> None:
        """A spec compared with itself has no change at all."""
        assert compare_documents(spec_document(), spec_document()) == []

    def test_shared_error_schema_is_one_line_per_operation(self) -> None:
        """A change to the Error schema is merged across the statuses of each operation."""
        old = spec_document()
        new = copy.deepcopy(old)
        schemas(new)["Error"]["properties"]["hint"] = {"type": "string"}
        changes = compare_documents(old, new)
        operations = sum(m in item for item in old["paths"].values() for m in METHODS)
        assert len(changes) == len({c.operation for c in changes}) == operations
        assert all(c.where.startswith("responses 400, 401, 403, 404") for c in changes)

    def test_unknown_kind_is_refused(self) -> None:
        """A Change of a kind missing from KINDS cannot be built, so the table stays complete."""
        with pytest.raises(ValueError, match="KINDS"):
            Change(None, None, "x", "", "made-up", "m", False, False)
