"""JSON Schema's ``pattern`` as ECMA-262 reads it, checked with Python's ``re``.

JSON Schema patterns are ECMA-262 regular expressions, whose ``\\s``, ``\\d`` and ``\\w`` are
not Python's: Python's ``\\s`` also matches the separators U+001C..U+001F and U+0085, its
``\\d`` and ``\\w`` match any Unicode digit or letter. So ``pattern: '\\S'`` would refuse the
prompt ``"\\x1d\\x85"``, which the spec (and a schema-driven generator such as schemathesis)
calls valid. The spec's patterns are translated once, the shorthand classes spelled out as
ECMA-262 defines them, and the validators of ``sora2._spec`` use the translation.
"""

from __future__ import annotations

import functools
import re
from typing import Any

__all__ = ["ecma_pattern", "pattern_keyword"]

_SPACE = "\\t\\n\\x0b\\x0c\\r \\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000\\ufeff"
_DIGIT = "0-9"
_WORD = "A-Za-z0-9_"
_INSIDE = {"s": _SPACE, "d": _DIGIT, "w": _WORD}
"""What each shorthand means inside a character class (its negation has no such form)."""
_OUTSIDE = {
    "s": f"[{_SPACE}]",
    "S": f"[^{_SPACE}]",
    "d": f"[{_DIGIT}]",
    "D": f"[^{_DIGIT}]",
    "w": f"[{_WORD}]",
    "W": f"[^{_WORD}]",
}


@functools.lru_cache(maxsize=256)
def ecma_pattern(pattern: str) -> str:
    """``pattern`` with its ``\\s \\S \\d \\D \\w \\W`` spelled out as ECMA-262 means them."""
    out: list[str] = []
    in_class = False
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if char == "\\" and i + 1 < len(pattern):
            letter = pattern[i + 1]
            if in_class and letter in _INSIDE:
                out.append(_INSIDE[letter])
            elif not in_class and letter in _OUTSIDE:
                out.append(_OUTSIDE[letter])
            else:
                out.append(pattern[i : i + 2])
            i += 2
            continue
        if char == "[" and not in_class:
            in_class = True
        elif char == "]" and in_class:
            in_class = False
        out.append(char)
        i += 1
    return "".join(out)


def pattern_keyword(validator: Any, pattern: str, instance: Any, schema: Any) -> Any:
    """jsonschema's ``pattern`` keyword, with the pattern read as ECMA-262."""
    from jsonschema.exceptions import ValidationError

    if not validator.is_type(instance, "string"):
        return
    if re.search(ecma_pattern(pattern), instance) is None:
        yield ValidationError(f"{instance!r} does not match {pattern!r}")
