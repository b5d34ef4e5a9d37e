"""The unofficial ``GET /v1/models/{model_id}``: the spec's schemas in RunComfy's dialect."""

from __future__ import annotations

import httpx

from sora2._spec import operation, resolve, spec_document
from sora2.emulator._models import model_document, model_id
from sora2.emulator._validation import body_schema

from .helpers import submit_path


def _output_properties() -> dict[str, object]:
    result = resolve(spec_document()["components"]["schemas"]["RequestResult"])
    found: dict[str, object] = resolve(result["properties"]["output"])["properties"]
    return found


class TestModelDocument:
    def test_is_served_on_the_submit_path_with_the_token(self, client: httpx.Client) -> None:
        """GET on the submit path answers the model document, with the model id of that path."""
        response = client.get(submit_path())
        assert 200 == response.status_code
        assert model_document() == response.json()
        assert operation("submit").path == "/v1/models/" + response.json()["model_id"]

    def test_needs_the_token(self, client: httpx.Client) -> None:
        """Like every API route, it answers 401 without a bearer token."""
        response = client.get(submit_path(), headers={"Authorization": ""})
        assert 401 == response.status_code
        assert 401001 == response.json()["error_code"]

    def test_another_model_is_not_found(self, client: httpx.Client) -> None:
        """An id that is not one of the spec's models gets the spec's 404 body."""
        response = client.get(f"/v1/models/{model_id()}-other")
        assert 404 == response.status_code
        assert 404001 == response.json()["error_code"]

    def test_input_schema_has_the_spec_properties_enums_and_defaults(self) -> None:
        """Every input property, enum, default and required name of the spec is published."""
        published = model_document()["input_schema"]
        spec = body_schema()
        assert list(spec["properties"]) == list(published["properties"])
        assert spec.get("required", []) == published["required"]
        for name, schema in spec["properties"].items():
            schema = resolve(schema)
            for key in ("enum", "default"):
                if key in schema:
                    assert schema[key] == published["properties"][name][key]

    def test_is_in_the_dialect(self) -> None:
        """No extension keywords, no additionalProperties, ``number`` spelled ``float``, and a
        required property's example published as its default, as the model's API page does."""

        def keys(node: object) -> set[str]:
            if isinstance(node, dict):
                return set(node) | {k for v in node.values() for k in keys(v)}
            return set()

        def types(node: object) -> set[str]:
            if isinstance(node, dict):
                own = {node["type"]} if isinstance(node.get("type"), str) else set()
                return own | {t for v in node.values() for t in types(v)}
            return set()

        published = model_document()
        found = keys(published["input_schema"]) | keys(published["output_schema"])
        assert not {k for k in found if k.startswith("x-")}
        assert "additionalProperties" not in found
        assert "number" not in types(published)
        for name in published["input_schema"]["required"]:
            examples = resolve(body_schema()["properties"][name]).get("examples")
            if examples:
                assert examples[0] == published["input_schema"]["properties"][name]["default"]

    def test_output_schema_wraps_the_output_object(self) -> None:
        """``output_schema`` is ``{"output": {...}}`` with the spec's output properties."""
        published = model_document()["output_schema"]["output"]
        assert list(_output_properties()) == list(published["properties"])
        assert "object" == published["type"]
