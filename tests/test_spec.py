"""The one spec layer (``sora2._spec``): the packaged document, ``$ref`` resolution and JSON
pointers, and one compiled validator per spec location, shared by the inputs, the client's answer
checks, the emulator and the contract checker, its patterns read as ECMA-262 (as JSON Schema
says), not as Python."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

import sora2
from sora2 import _spec
from sora2._inputs import input_schema, input_schema_pointer, input_validator
from sora2._spec import (
    SchemaCompiler,
    ecma_pattern,
    escape_pointer,
    lookup,
    operation,
    resolve,
    resolve_with_location,
    schema_compiler,
    spec_document,
)

PACKAGE = Path(sora2.__file__).parent


class TestPointers:
    @pytest.mark.parametrize("token", ["a/b", "~x", "~1", "/v1/{id}/status", "plain"])
    def test_escaped_tokens_resolve(self, token: str) -> None:
        """RFC 6901 escaping ('~' first) makes a pointer that resolves to the very key."""
        compiler = SchemaCompiler({"defs": {token: {"title": token}}})
        assert {"title": token} == compiler.lookup(f"#/defs/{escape_pointer(token)}")
        assert "/" not in escape_pointer(token)

    def test_the_contract_checker_uses_the_same_function(self) -> None:
        """There is one escape_pointer: the contract checker re-exports the spec layer's."""
        from sora2.contract import _schemas

        assert escape_pointer is _schemas.escape_pointer

    def test_no_other_module_walks_pointers_or_compiles_schemas(self) -> None:
        """Only the spec layer (sora2/_spec.py) unescapes pointers or builds validators and
        registries."""
        offenders = [
            str(path.relative_to(PACKAGE))
            for path in PACKAGE.rglob("*.py")
            if str(path.relative_to(PACKAGE)) != "_spec.py"
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


@pytest.mark.parametrize(
    ("pattern", "text", "matches"),
    [
        (r"\S", "\x1d\x85", True),  # Python's \s holds U+001D and U+0085; ECMA-262's does not
        (r"\S", " \t\n\u3000\ufeff", False),  # ECMA-262's \s holds U+FEFF; Python's does not
        (r"^\d+$", "١٢", False),  # Arabic-Indic digits: Python's \d, not ECMA-262's
        (r"^[\w-]+$", "a_b-9", True),
        (r"^https://", "https://x", True),
        (r"\\s", "\\s", True),  # an escaped backslash stays one
    ],
)
def test_shorthands_mean_what_ecma_262_says(pattern: str, text: str, matches: bool) -> None:
    """Each shorthand class is spelled out as ECMA-262 defines it."""
    assert matches == (re.search(ecma_pattern(pattern), text) is not None)


def test_the_validators_use_it() -> None:
    """A prompt of separators Python calls spaces is valid to the spec, so it is accepted."""
    assert [] == list(input_validator().iter_errors({"prompt": "\x1d\x85"}))
    assert list(input_validator().iter_errors({"prompt": " \t"}))


class TestValidators:
    def test_one_compiled_input_validator(self) -> None:
        """The client and the emulator check input with the very same compiled validator."""
        from sora2.emulator._validation import submit_validator

        assert input_validator() is submit_validator()
        assert input_validator() is schema_compiler().validator(
            input_schema_pointer(), input_schema()
        )

    def test_the_default_contract_shares_the_compiled_validators(self) -> None:
        """The contract checker of the packaged spec reuses the spec layer's validators."""
        from sora2.contract import load_contract

        location = input_schema_pointer()
        contract = load_contract()
        assert input_validator() is contract._schemas.validator(location, input_schema())

    def test_compiled_schemas_hold_no_local_refs(self) -> None:
        """Local $refs are inlined at compile time (no resolution per validation)."""
        assert "$ref" not in json.dumps(input_validator().schema)

    def test_the_core_client_does_not_import_the_contract_checker(self) -> None:
        """Checking answers and input needs only the spec layer, never sora2.contract."""
        code = (
            "import sys, json\n"
            "from sora2._operations import schema_error\n"
            "from sora2._inputs import validate_input\n"
            "schema_error('status', {'request_id': 'r', 'status': 'in_queue'})\n"
            "schema_error('status', {'status': 1})\n"
            "validate_input({'prompt': 'x'})\n"
            "print(json.dumps([m for m in sys.modules if m.startswith('sora2.contract')]))"
        )
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        ).stdout.splitlines()[-1]
        assert [] == json.loads(out)
