"""The spec's schemas compiled into validators, each location once: the inputs, the client's
answer checks, the emulator and the contract checker all ask this module.

A validator is jsonschema's Draft 2020-12 (which explains a failure) with jsonschema-rs's
verdict in front (which says "valid" in about a microsecond), and both assert the formats the
spec relies on (``uri``, ``date-time``) exactly.

JSON Schema's ``pattern`` as ECMA-262 reads it, checked with Python's ``re``.

JSON Schema patterns are ECMA-262 regular expressions, whose ``\\s``, ``\\d`` and ``\\w`` are
not Python's: Python's ``\\s`` also matches the separators U+001C..U+001F and U+0085, its
``\\d`` and ``\\w`` match any Unicode digit or letter. So ``pattern: '\\S'`` would refuse the
prompt ``"\\x1d\\x85"``, which the spec (and a schema-driven generator such as schemathesis)
calls valid. The spec's patterns are translated once, the shorthand classes spelled out as
ECMA-262 defines them, and every validator compiled here uses the translation.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ._spec import DOCUMENT_URI, input_schema_pointer, lookup, spec_document

if TYPE_CHECKING:
    from jsonschema import FormatChecker
    from jsonschema.protocols import Validator
    from referencing import Registry

__all__ = [
    "SchemaCompiler",
    "ecma_pattern",
    "input_validator",
    "input_verdict",
    "is_uri",
    "pattern_keyword",
    "schema_compiler",
    "strict_formats",
]

# Patterns, as ECMA-262 reads them -----------------------------------------------------------

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


# Formats and validators ---------------------------------------------------------------------


def _is_date_time(value: object) -> bool:
    """RFC 3339 ``date-time``: the exact grammar, then a calendar check."""
    if not isinstance(value, str):
        return True
    if not _RFC3339.match(value):
        return False
    try:
        datetime.fromisoformat(value.upper().replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


_RFC3339 = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[Zz]|[+-]\d{2}:\d{2})\Z", re.ASCII
)


def is_uri(value: object) -> bool:
    """RFC 3986 ``URI`` (a scheme, then the rest): the spec layer's ``uri`` format."""
    if not isinstance(value, str):
        return True
    from rfc3986_validator import validate_rfc3986

    return bool(validate_rfc3986(value, rule="URI"))


def strict_formats() -> FormatChecker:
    """The formats the spec relies on, asserted exactly: ``uri`` and ``date-time``."""
    from jsonschema import FormatChecker

    checker = FormatChecker(formats=())
    checker.checks("uri")(is_uri)
    checker.checks("date-time")(_is_date_time)
    return checker


class SchemaCompiler:
    """Compiles schemas of one OpenAPI document into Draft 2020-12 validators, each location
    at most once.

    Local ``$ref``s are inlined at compile time, because resolving them through the registry on
    every validation doubles the cost of checking a body; a recursive reference (none today)
    stays a ``$ref`` and goes through the ``referencing.Registry`` holding the whole document.
    """

    def __init__(
        self, document: Mapping[str, Any], *, format_checker: FormatChecker | None = None
    ) -> None:
        from referencing import Registry
        from referencing.jsonschema import DRAFT202012

        self._document = document
        self._registry: Registry[Any] = Registry().with_resource(
            DOCUMENT_URI, DRAFT202012.create_resource(dict(document))
        )
        self._resolver = self._registry.resolver(base_uri=DOCUMENT_URI)
        # jsonschema is imported on the first compile only: resolving (the CLI's options) is
        # cheap, and `sora2 --help` must stay so.
        self._format_checker = format_checker
        self._cache: dict[str, Validator] = {}
        self._verdicts: dict[str, Callable[[Any], bool] | None] = {}

    @property
    def document(self) -> Mapping[str, Any]:
        return self._document

    def lookup(self, ref: str) -> Any:
        """The node at local reference ``ref``; raises ``LookupError`` when there is none."""
        return self._resolver.lookup(ref).contents

    def resolve_with_location(self, node: Any, pointer: str = "") -> tuple[Any, str]:
        """Follow local ``$ref``s until a non-reference node; it and its ``#/...`` location."""
        seen: set[str] = set()
        while isinstance(node, dict) and isinstance(node.get("$ref"), str):
            ref: str = node["$ref"]
            if not ref.startswith("#/") or ref in seen:
                break
            seen.add(ref)
            node = self.lookup(ref)
            pointer = ref
        return node, pointer

    def resolve(self, node: Any) -> Any:
        return self.resolve_with_location(node, "")[0]

    def _inline(self, node: Any, stack: tuple[str, ...]) -> Any:
        if isinstance(node, list):
            return [self._inline(item, stack) for item in node]
        if not isinstance(node, dict):
            return node
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#"):
            rest = {k: self._inline(v, stack) for k, v in node.items() if k != "$ref"}
            if ref in stack:
                return {**rest, "$ref": DOCUMENT_URI + ref}
            target = self._inline(self.lookup(ref), (*stack, ref))
            if not rest:
                return target
            return {**rest, "allOf": [*rest.get("allOf", []), target]}
        return {key: self._inline(value, stack) for key, value in node.items()}

    def validator(self, location: str, schema: Any) -> Validator:
        """The validator for ``schema``, found at JSON pointer ``location`` of the document."""
        found = self._cache.get(location)
        if found is None:
            if self._format_checker is None:
                self._format_checker = strict_formats()
            inlined = self._inline(schema, (location,) if location.startswith("#") else ())
            found = _validator_class()(
                inlined, registry=self._registry, format_checker=self._format_checker
            )
            self._cache[location] = found
        return found

    def verdict(
        self, location: str, schema: Any, checker: FormatChecker | None = None
    ) -> Callable[[Any], bool] | None:
        """jsonschema-rs's verdict on the same inlined schema, with the same formats asserted
        (those of ``checker`` when a caller checks formats its own way, as the client does).

        A whole body through jsonschema's ``iter_errors`` was two thirds of a checked exchange
        (``descend``/``evolve`` per keyword), and the submit body's check was the largest cost
        of ours in a submit; jsonschema-rs says "valid" in about a microsecond. Only a body it
        rejects goes through jsonschema, which explains it. None (jsonschema alone) for a
        schema it cannot take: a recursive ``$ref`` left in place. Compiled once per location.
        """
        try:
            return self._verdicts[location]
        except KeyError:
            pass
        import jsonschema_rs

        self._verdicts[location] = None
        validator = self.validator(location, schema)
        inlined = validator.schema
        if not isinstance(inlined, dict) or _has_ref(inlined):
            return None
        if checker is None:
            checker = self._format_checker  # the one the validator was compiled with
        formats: dict[str, Callable[[Any], bool]] = {}
        for name in _format_names(inlined):
            if name in _NATIVE and checker is not None and _is_spec_check(checker, name):
                continue  # jsonschema-rs's own check, the same verdict without a Python call
            if checker is not None and name in checker.checkers:
                formats[name] = functools.partial(_conforms, checker, name)
            else:
                formats[name] = _any  # not asserted by jsonschema either
        try:
            compiled = jsonschema_rs.Draft202012Validator(
                inlined, validate_formats=True, formats=formats
            )
        except (ValueError, TypeError):  # a schema jsonschema-rs refuses: jsonschema alone
            return None
        check: Callable[[Any], bool] = compiled.is_valid
        self._verdicts[location] = check
        return check


_NATIVE = frozenset({"uri"})
"""Formats whose jsonschema-rs check gives this module's verdict (RFC 3986 ``URI``; pinned by
tests/contract/test_schemas.py), so no Python callback runs for them."""


def _is_spec_check(checker: FormatChecker, name: str) -> bool:
    """Whether ``checker`` checks ``name`` with the spec layer's own function."""
    found = checker.checkers.get(name)
    return found is not None and found[0] is {"uri": is_uri}.get(name)


def _conforms(checker: FormatChecker, name: str, value: Any) -> bool:
    return checker.conforms(value, name)


def _any(value: Any) -> bool:
    return True


def _format_names(schema: Any) -> set[str]:
    if isinstance(schema, dict):
        found = {schema["format"]} if isinstance(schema.get("format"), str) else set()
        return found.union(*(_format_names(v) for v in schema.values()))
    if isinstance(schema, list):
        return set().union(*(_format_names(v) for v in schema))
    return set()


def _has_ref(schema: Any) -> bool:
    if isinstance(schema, dict):
        return "$ref" in schema or any(_has_ref(v) for v in schema.values())
    if isinstance(schema, list):
        return any(_has_ref(v) for v in schema)
    return False


@functools.cache
def _validator_class() -> Any:
    """Draft 2020-12, its ``pattern`` read as ECMA-262 (:func:`pattern_keyword`), as JSON
    Schema says."""
    from jsonschema import Draft202012Validator, validators

    return validators.extend(Draft202012Validator, {"pattern": pattern_keyword})  # type: ignore[no-untyped-call]


@functools.cache
def schema_compiler() -> SchemaCompiler:
    """The compiler of the packaged spec, shared by the client, the CLI and the emulator."""
    return SchemaCompiler(spec_document())


def input_validator(model_id: str | None = None) -> Validator:
    """The compiled validator of a model's submit body: what both client and emulator enforce."""
    pointer = input_schema_pointer(model_id)
    return schema_compiler().validator(pointer, lookup(pointer))


def input_verdict(model_id: str | None = None) -> Callable[[Any], bool] | None:
    """The fast verdict on a model's submit body (``SchemaCompiler.verdict``); None: ask
    jsonschema."""
    pointer = input_schema_pointer(model_id)
    return schema_compiler().verdict(pointer, lookup(pointer))
