"""A plain-Python test of "is this JSON valid?" for the simple schemas of the spec's answers.

The client checks every answer against its response schema. jsonschema spends about 20 µs on
a status body, as much as all the rest of the client's work on a call, because it walks the
schema through generic validator objects each time. The answers' schemas use a handful of
keywords, so each is compiled here once into nested closures that give the same verdict in a
few microseconds. jsonschema still explains an invalid body: only the verdict is fast.

A schema using any keyword not handled here compiles to None, and the caller uses jsonschema
alone. Every keyword handled is exact (valid here if and only if valid for jsonschema, Draft
2020-12 with the same format checks), so ``not`` can be handled too.
"""

from __future__ import annotations

import numbers
import re
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["Check", "compile_check"]

Check = Callable[[Any], bool]

_ANNOTATIONS = frozenset(
    {
        "title",
        "description",
        "default",
        "example",
        "examples",
        "deprecated",
        "readOnly",
        "writeOnly",
        "$comment",
        "format",  # checked only when the caller asserts that format (see compile_check)
    }
)


class _Unsupported(Exception):
    """The schema uses something this module does not check exactly."""


def _is_integer(value: object) -> bool:
    if isinstance(value, bool):
        return False
    return isinstance(value, int) or (isinstance(value, float) and value.is_integer())


def _is_number(value: object) -> bool:
    kind = type(value)
    if kind is int or kind is float:
        return True
    return isinstance(value, numbers.Number) and not isinstance(value, bool)


_TYPES: Mapping[str, Check] = {
    "string": lambda v: isinstance(v, str),
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
    "integer": _is_integer,
    "number": _is_number,
}


def compile_check(schema: Any, formats: Mapping[str, Check]) -> Check | None:
    """An exact validity test for ``schema`` (local ``$ref``s already inlined), or None.

    Args:
        schema: a Draft 2020-12 schema without ``$ref``.
        formats: the formats the caller's jsonschema validator asserts, by name; every other
            ``format`` is an annotation, as it is for jsonschema without a checker for it.
    """
    try:
        return _compile(schema, formats)
    except _Unsupported:
        return None


def _compile(schema: Any, formats: Mapping[str, Check]) -> Check:
    if schema is True:
        return lambda value: True
    if schema is False:
        return lambda value: False
    if not isinstance(schema, dict):
        raise _Unsupported
    checks: list[Check] = []
    for key, arg in schema.items():
        if key in _ANNOTATIONS or key.startswith("x-") or key in _OBJECT_KEYWORDS:
            continue
        keyword = _KEYWORDS.get(key)
        if keyword is None:
            raise _Unsupported(key)
        checks.append(keyword(arg, formats))
    checks.extend(_object_checks(schema, formats))
    name = schema.get("format")
    if isinstance(name, str) and name in formats:
        checks.append(formats[name])
    return _all(checks)


def _all(checks: list[Check]) -> Check:
    if not checks:
        return lambda value: True
    if len(checks) == 1:
        return checks[0]
    frozen = tuple(checks)

    def every(value: Any) -> bool:
        for check in frozen:
            if not check(value):
                return False
        return True

    return every


def _type(arg: Any, formats: Mapping[str, Check]) -> Check:
    names = [arg] if isinstance(arg, str) else arg
    if not isinstance(names, list) or not all(isinstance(n, str) and n in _TYPES for n in names):
        raise _Unsupported("type")
    tests = [_TYPES[n] for n in names]
    if len(tests) == 1:
        return tests[0]
    return lambda value: any(test(value) for test in tests)


def _enum(arg: Any, formats: Mapping[str, Check]) -> Check:
    # Only strings: jsonschema's equality tells 1 from True and 1.0, a set would not.
    if not isinstance(arg, list) or not all(isinstance(item, str) for item in arg):
        raise _Unsupported("enum")
    allowed = frozenset(arg)
    return lambda value: isinstance(value, str) and value in allowed


def _any_of(arg: Any, formats: Mapping[str, Check]) -> Check:
    subs = _subschemas(arg, formats)

    def some(value: Any) -> bool:
        for sub in subs:
            if sub(value):
                return True
        return False

    return some


def _all_of(arg: Any, formats: Mapping[str, Check]) -> Check:
    return _all(_subschemas(arg, formats))


def _one_of(arg: Any, formats: Mapping[str, Check]) -> Check:
    subs = _subschemas(arg, formats)
    return lambda value: sum(1 for sub in subs if sub(value)) == 1


def _not(arg: Any, formats: Mapping[str, Check]) -> Check:
    sub = _compile(arg, formats)
    return lambda value: not sub(value)


def _subschemas(arg: Any, formats: Mapping[str, Check]) -> list[Check]:
    if not isinstance(arg, list) or not arg:
        raise _Unsupported("applicator")
    return [_compile(item, formats) for item in arg]


def _bound(fails: Callable[[Any, Any], bool]) -> Callable[[Any, Mapping[str, Check]], Check]:
    """A numeric bound, failing on jsonschema's own comparison (so NaN passes, as there)."""

    def keyword(arg: Any, formats: Mapping[str, Check]) -> Check:
        if not _is_number(arg):
            raise _Unsupported("bound")
        return lambda value: not _is_number(value) or not fails(value, arg)

    return keyword


def _length(compare: Callable[[int, int], bool]) -> Callable[[Any, Mapping[str, Check]], Check]:
    def keyword(arg: Any, formats: Mapping[str, Check]) -> Check:
        if not _is_integer(arg):
            raise _Unsupported("length")
        return lambda value: not isinstance(value, str) or compare(len(value), arg)

    return keyword


def _items_count(compare: Callable[[int, int], bool]) -> Callable[[Any, Mapping[str, Check]], Check]:
    def keyword(arg: Any, formats: Mapping[str, Check]) -> Check:
        if not _is_integer(arg):
            raise _Unsupported("items count")
        return lambda value: not isinstance(value, list) or compare(len(value), arg)

    return keyword


def _pattern(arg: Any, formats: Mapping[str, Check]) -> Check:
    if not isinstance(arg, str):
        raise _Unsupported("pattern")
    compiled = re.compile(arg)
    return lambda value: not isinstance(value, str) or compiled.search(value) is not None


def _items(arg: Any, formats: Mapping[str, Check]) -> Check:
    sub = _compile(arg, formats)
    return lambda value: not isinstance(value, list) or all(sub(item) for item in value)


def _required(arg: Any, formats: Mapping[str, Check]) -> Check:
    if not isinstance(arg, list) or not all(isinstance(name, str) for name in arg):
        raise _Unsupported("required")
    names = tuple(arg)
    return lambda value: not isinstance(value, dict) or all(name in value for name in names)


_OBJECT_KEYWORDS = frozenset({"properties", "additionalProperties"})


def _object_checks(schema: dict[str, Any], formats: Mapping[str, Check]) -> list[Check]:
    """``properties`` and ``additionalProperties`` together: the second depends on the first."""
    properties = schema.get("properties", {})
    extra = schema.get("additionalProperties", True)
    if not isinstance(properties, dict):
        raise _Unsupported("properties")
    subs = {name: _compile(sub, formats) for name, sub in properties.items()}
    other = None if extra is True else _compile(extra, formats)
    if not subs and other is None:
        return []
    pairs = tuple(subs.items())

    def check(value: Any) -> bool:
        if not isinstance(value, dict):
            return True
        for name, sub in pairs:
            if name in value and not sub(value[name]):
                return False
        if other is not None:
            return all(other(v) for k, v in value.items() if k not in subs)
        return True

    return [check]


_KEYWORDS: Mapping[str, Callable[[Any, Mapping[str, Check]], Check]] = {
    "type": _type,
    "enum": _enum,
    "anyOf": _any_of,
    "allOf": _all_of,
    "oneOf": _one_of,
    "not": _not,
    "required": _required,
    "items": _items,
    "pattern": _pattern,
    "minimum": _bound(lambda value, limit: value < limit),
    "maximum": _bound(lambda value, limit: value > limit),
    "exclusiveMinimum": _bound(lambda value, limit: value <= limit),
    "exclusiveMaximum": _bound(lambda value, limit: value >= limit),
    "minLength": _length(lambda size, limit: size >= limit),
    "maxLength": _length(lambda size, limit: size <= limit),
    "minItems": _items_count(lambda size, limit: size >= limit),
    "maxItems": _items_count(lambda size, limit: size <= limit),
}
