"""The one spec layer (``sora2._spec``): the packaged document, ``$ref`` resolution and JSON
pointers, shared by the inputs, the client's answer checks, the emulator and the contract
checker."""

from __future__ import annotations

from pathlib import Path

import pytest

import sora2
from sora2 import _spec
from sora2._spec import (
    escape_pointer,
    input_schema,
    input_schema_pointer,
    lookup,
    operation,
    resolve,
    resolve_with_location,
    spec_document,
    unescape_pointer,
)

PACKAGE = Path(sora2.__file__).parent


class TestPointers:
    @pytest.mark.parametrize("token", ["a/b", "~x", "~1", "/v1/{id}/status", "plain"])
    def test_escape_round_trips(self, token: str) -> None:
        """RFC 6901 escaping ('~' first) round-trips every token."""
        assert token == unescape_pointer(escape_pointer(token))
        assert "/" not in escape_pointer(token)

    def test_the_contract_checker_uses_the_same_function(self) -> None:
        """There is one escape_pointer: the contract checker re-exports the spec layer's."""
        from sora2.contract import _schemas

        assert escape_pointer is _schemas.escape_pointer

    def test_no_other_module_walks_pointers_or_compiles_schemas(self) -> None:
        """Only the spec layer (sora2/_spec.py, sora2/_compiler.py) unescapes pointers or builds
        validators and registries."""
        offenders = [
            str(path.relative_to(PACKAGE))
            for path in PACKAGE.rglob("*.py")
            if str(path.relative_to(PACKAGE)) not in ("_spec.py", "_compiler.py")
            and any(
                needle in path.read_text(encoding="utf-8")
                for needle in ('replace("~1"', "Draft202012Validator(", "Registry()")
            )
        ]
        assert [] == offenders


class TestResolution:
    def test_resolve_follows_refs_to_the_node(self) -> None:
        """A $ref resolves to the node it names, through referencing."""
        ref = input_schema_pointer()
        assert lookup(ref) is resolve({"$ref": ref})

    def test_resolve_with_location_reports_where(self) -> None:
        """The location is the last reference followed, or the given pointer for a plain node."""
        ref = input_schema_pointer()
        assert (lookup(ref), ref) == resolve_with_location({"$ref": ref}, "#/start")
        assert ({"type": "string"}, "#/start") == resolve_with_location(
            {"type": "string"}, "#/start"
        )

    def test_the_input_schema_is_the_submit_request_body(self) -> None:
        """The input schema is what the submit operation's request body refers to."""
        content = resolve(operation("submit").raw["requestBody"])["content"]
        assert input_schema() is resolve(content["application/json"]["schema"])


class TestDocument:
    def test_the_spec_document_is_the_packaged_one(self) -> None:
        """The layer reads the generated package's openapi.json, once."""
        assert spec_document() is _spec.spec_document()
