"""Schema compilation: formats, ``$ref`` inlining, caching and error pointers."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sora2._spec import escape_pointer, is_uri, spec_document
from sora2.contract._schemas import SchemaCompiler


@pytest.fixture(scope="module")
def compiler() -> SchemaCompiler:
    return SchemaCompiler(spec_document())


def errors(compiler: SchemaCompiler, schema: object, instance: object) -> list[str]:
    found = compiler.check(
        f"test:{schema!r}", schema, instance, prefix="/body", side="response", operation_id=None
    )
    return [v.rule for v in found]


class TestFormats:
    @pytest.mark.parametrize(
        "value",
        ["2026-11-24T10:00:00Z", "2026-11-24t10:00:00.123+02:00", "2024-02-29T23:59:59-05:30"],
    )
    def test_rfc3339_date_times_pass(self, compiler: SchemaCompiler, value: str) -> None:
        """RFC 3339 timestamps, fractional seconds, offsets and lower-case t pass."""
        assert errors(compiler, {"type": "string", "format": "date-time"}, value) == []

    @pytest.mark.parametrize(
        "value",
        [
            "2026-11-24 10:00:00Z",
            "2026-11-24T10:00:00",
            "2026-13-01T00:00:00Z",
            "2025-02-29T00:00:00Z",
            "yesterday",
        ],
    )
    def test_other_date_times_fail(self, compiler: SchemaCompiler, value: str) -> None:
        """No time zone, a space separator or an impossible date is not an RFC 3339 date-time."""
        assert errors(compiler, {"type": "string", "format": "date-time"}, value) == ["format"]

    @pytest.mark.parametrize("value", ["https://cdn.example/a.mp4", "http://127.0.0.1:8000/x?y=1"])
    def test_absolute_uris_pass(self, compiler: SchemaCompiler, value: str) -> None:
        """Absolute URLs are URIs."""
        assert errors(compiler, {"type": "string", "format": "uri"}, value) == []

    @pytest.mark.parametrize("value", ["/v1/requests/x", "not a uri", "https://exa mple/"])
    def test_relative_or_broken_uris_fail(self, compiler: SchemaCompiler, value: str) -> None:
        """A relative reference or a URL with a space is not a URI."""
        assert errors(compiler, {"type": "string", "format": "uri"}, value) == ["format"]

    def test_formats_ignore_other_types(self, compiler: SchemaCompiler) -> None:
        """A format only constrains strings; the type keyword reports the rest."""
        assert errors(compiler, {"format": "uri"}, 5) == []


class TestCompiler:
    def test_validator_is_cached_by_location(self, compiler: SchemaCompiler) -> None:
        """One location compiles once; asking again returns the same validator."""
        schema = {"$ref": "#/components/schemas/RequestStatus"}
        first = compiler.validator("#/x", schema)
        assert first is compiler.validator("#/x", schema)

    def test_local_refs_are_inlined(self, compiler: SchemaCompiler) -> None:
        """A non-recursive schema compiles with no ``$ref`` left to resolve at validation time."""
        validator = compiler.validator("#/inline", {"$ref": "#/components/schemas/ResultResponse"})
        assert "$ref" not in repr(validator.schema)

    def test_ref_with_siblings_keeps_both(self, compiler: SchemaCompiler) -> None:
        """``$ref`` next to other keywords applies the target and the siblings together."""
        schema = {"$ref": "#/components/schemas/Error", "required": ["detail"]}
        assert errors(compiler, schema, {"error_code": 400001, "message": "x"}) == ["required"]
        assert errors(compiler, schema, {"error_code": "x", "message": "x", "detail": []}) == [
            "type"
        ]

    def test_required_points_at_the_missing_member(self, compiler: SchemaCompiler) -> None:
        """A missing member is reported at its own pointer, escaped per RFC 6901."""
        schema = {"required": ["a/b", "c~d"]}
        found = compiler.check(
            "#/req", schema, {}, prefix="/body", side="request", operation_id=None
        )
        assert {"/body/a~1b", "/body/c~0d"} == {v.pointer for v in found}

    def test_escape_pointer(self) -> None:
        """``~`` and ``/`` are escaped as ``~0`` and ``~1``."""
        assert escape_pointer("a/b~c") == "a~1b~0c"


def check(compiler: SchemaCompiler, schema: object, instance: object) -> list[str]:
    """The rules ``compiler.check`` reports: its fast verdict first, jsonschema to explain."""
    found = compiler.check(
        f"fast:{schema!r}", schema, instance, prefix="/body", side="response", operation_id=None
    )
    return [v.rule for v in found]


URI_TEXT = st.lists(
    st.one_of(
        st.sampled_from(list("abcXZ09:/?#[]@!$&'()*+,;=-._~% é\\|^{<")),
        st.sampled_from(["http://", "a:", "x+y:", "//", "[::1]", "[v1.x]", "%41", "%g", ":80"]),
    ),
    max_size=12,
).map("".join)


class TestFastVerdict:
    @settings(max_examples=300, deadline=None)
    @given(value=URI_TEXT)
    def test_uri_verdict_is_the_spec_layers(self, compiler: SchemaCompiler, value: str) -> None:
        """jsonschema-rs's own ``uri`` check, used on the fast path, agrees with is_uri."""
        schema = {"type": "string", "format": "uri"}
        assert is_uri(value) == (check(compiler, schema, value) == [])

    @pytest.mark.parametrize("value", ["2026-02-30T00:00:00Z", "2026-11-24 10:00:00Z"])
    def test_date_time_is_asserted_on_the_fast_path(
        self, compiler: SchemaCompiler, value: str
    ) -> None:
        """A date-time the strict check refuses is reported through compiler.check too."""
        schema = {"type": "object", "properties": {"at": {"type": "string", "format": "date-time"}}}
        assert ["format"] == check(compiler, schema, {"at": value})
        assert [] == check(compiler, schema, {"at": "2026-11-24T10:00:00Z"})

    def test_a_body_of_the_wrong_shape_is_explained(self, compiler: SchemaCompiler) -> None:
        """The fast verdict only says valid; a bad body still gets jsonschema's violations."""
        schema = {"type": "object", "required": ["a"], "properties": {"a": {"type": "integer"}}}
        assert ["type"] == check(compiler, schema, {"a": "1"})
        assert ["required"] == check(compiler, schema, {})
        assert [] == check(compiler, schema, {"a": 1})
