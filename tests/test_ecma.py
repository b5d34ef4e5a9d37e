"""sora2._ecma: the spec's patterns are read as ECMA-262, as JSON Schema says, not as Python."""

from __future__ import annotations

import re

import pytest

from sora2._ecma import ecma_pattern
from sora2._spec import input_validator


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
