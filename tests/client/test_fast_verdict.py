"""The fast verdict on answers (jsonschema-rs) is jsonschema's, for every response schema."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sora2._errors import answer_validator
from sora2._operations import _quick, json_body, schema_error
from sora2._spec import operations

_OPERATIONS = sorted(operations())


def _names(schema: Any) -> set[str]:
    """Every property name and every string constant anywhere in a schema."""
    found: set[str] = set()
    if isinstance(schema, dict):
        found.update(schema.get("properties", {}))
        found.update(v for v in schema.get("enum", []) if isinstance(v, str))
        for value in schema.values():
            found |= _names(value)
    elif isinstance(schema, list):
        for value in schema:
            found |= _names(value)
    return found


def _schemas() -> list[Any]:
    validators = (answer_validator(op) for op in _OPERATIONS)
    return [v.schema for v in validators if v is not None]


_WORDS = sorted(set().union(*(_names(schema) for schema in _schemas())))
_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-3, max_value=3)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.sampled_from(_WORDS)
    | st.sampled_from(["", "2026-01-01T00:00:00Z", "2026-13-01T00:00:00", "http://x/v.mp4"])
    | st.text(max_size=5)
)
_json = st.recursive(
    _scalars,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.sampled_from(_WORDS) | st.text(max_size=3), inner, max_size=6)
    ),
    max_leaves=12,
)
_DATES = ["2026-01-01T00:00:00Z", "2026-01-01T00:00:00+01:00", "2026-13-01T00:00:00", "soon"]


def _likely(schema: Any) -> st.SearchStrategy[Any]:
    """Values shaped by ``schema``, mostly valid, with odd values mixed in at every level."""
    odd: st.SearchStrategy[Any] = _scalars
    if not isinstance(schema, dict):
        return odd
    branches = schema.get("anyOf", []) + schema.get("allOf", []) + schema.get("oneOf", [])
    kind = schema.get("type")
    shaped: st.SearchStrategy[Any]
    if branches:
        shaped = st.one_of([_likely(branch) for branch in branches])
    elif "enum" in schema:
        shaped = st.sampled_from(schema["enum"])
    elif kind == "object":
        properties = {name: _likely(sub) for name, sub in schema.get("properties", {}).items()}
        required = {name: properties.pop(name, _scalars) for name in schema.get("required", [])}
        shaped = st.fixed_dictionaries(required, optional=properties) | st.fixed_dictionaries(
            {}, optional={**required, **properties}
        )
    elif kind == "array":
        shaped = st.lists(_likely(schema.get("items")), max_size=3)
    elif kind == "integer":
        shaped = st.integers(min_value=-2, max_value=3)
    elif kind == "string":
        shaped = st.sampled_from(_WORDS + _DATES)
    else:
        return odd
    return _mostly(shaped, odd)


def _mostly(shaped: st.SearchStrategy[Any], odd: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """``shaped`` four times in five (``one_of`` would merge repeats of one strategy)."""
    return st.integers(min_value=0, max_value=4).flatmap(lambda i: odd if i == 0 else shaped)


def _answers(operation_id: str) -> st.SearchStrategy[Any]:
    validator = answer_validator(operation_id)
    assert validator is not None
    return _mostly(_likely(validator.schema), _json)


class TestExactness:
    @pytest.mark.parametrize("operation_id", _OPERATIONS)
    def test_every_answer_schema_compiles(self, operation_id: str) -> None:
        """Each operation's 200 schema has a fast check, so no call pays for jsonschema."""
        assert answer_validator(operation_id) is not None
        assert _quick(operation_id) is not None

    @settings(max_examples=500, deadline=None)
    @given(data=st.data(), operation_id=st.sampled_from(_OPERATIONS))
    def test_same_verdict_as_jsonschema(self, data: st.DataObject, operation_id: str) -> None:
        """On answers near the spec's shape and on any JSON value, the fast check says valid
        exactly when jsonschema does."""
        value = data.draw(_answers(operation_id))
        quick = _quick(operation_id)
        validator = answer_validator(operation_id)
        assert quick is not None and validator is not None
        assert validator.is_valid(value) == quick(value)


class TestSchemaError:
    def test_invalid_answers_are_still_explained(self) -> None:
        """A body the fast check rejects gets jsonschema's message, pointing at the field."""
        message = schema_error(
            "status", {"request_id": "r", "status": "completed", "queue_position": -1}
        )
        assert message is not None and message.startswith("queue_position:")

    def test_valid_answer(self) -> None:
        """A body that matches the spec has no error."""
        assert schema_error("status", {"request_id": "r", "status": "in_queue"}) is None


_JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=8,
)


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        st.tuples(_JSON_VALUES, st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "utf-32"])).map(
            lambda pair: json.dumps(pair[0], ensure_ascii=False).encode(pair[1])
        ),
        st.binary(max_size=40),
        st.text(max_size=20).map(lambda text: text.encode("utf-8", "surrogatepass")),
    )
)
def test_json_body_decodes_as_json_loads(content: bytes) -> None:
    """An answer's body is JSON exactly when ``json.loads`` of its bytes says so, with the same
    value, whatever the encoding."""
    try:
        expected: Any = (True, json.loads(content))
    except (ValueError, UnicodeDecodeError, RecursionError):
        expected = (False, None)
    assert expected == json_body(httpx.Response(200, content=content))
