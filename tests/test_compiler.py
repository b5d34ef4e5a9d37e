"""sora2._compiler: one compiled validator per spec location, shared by the client, the
emulator and the contract checker, its patterns read as ECMA-262 (as JSON Schema says), not as
Python."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

from sora2._compiler import ecma_pattern, input_validator, schema_compiler
from sora2._spec import input_schema, input_schema_pointer


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
