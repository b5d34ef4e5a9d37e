"""Spec mutations for the schema-change drill: edits of the parsed spec, derived from the spec.

Every mutation reads what it changes from the document it is given (the request enums, their
defaults, the submit path, the output object, the states), so the drill follows the spec: a
new enum value is chosen relative to the existing ones, never written down here.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from _repo_copy import copy_parts

ROOT = Path(__file__).resolve().parents[2]
SPEC_RELPATH = Path("spec") / "sora2.openapi.yaml"
# What a copy needs to regenerate and to run the client, the CLI, the emulator and the checker.
PARTS = ("spec", "codegen", "generated", "sora2", "pyproject.toml")
_METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")

Doc = dict[str, Any]


def copy_repo(target: Path, parts: tuple[str, ...] = PARTS) -> Path:
    """Copy the named top-level parts of this checkout into ``target``; returns ``target``."""
    return copy_parts(target, parts)


def load_spec(root: Path) -> Doc:
    document: Doc = yaml.safe_load((root / SPEC_RELPATH).read_text(encoding="utf-8"))
    return document


def save_spec(root: Path, document: Doc) -> None:
    (root / SPEC_RELPATH).write_text(
        yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=100), encoding="utf-8"
    )


# Where things are --------------------------------------------------------------------------------


def _deref(document: Doc, node: Any) -> Any:
    while isinstance(node, dict) and isinstance(node.get("$ref"), str):
        target: Any = document
        for token in node["$ref"][2:].split("/"):
            target = target[token.replace("~1", "/").replace("~0", "~")]
        node = target
    return node


def submit_path(document: Doc) -> str:
    """The path of the operation whose JSON request body is the model's input."""
    for path, item in document["paths"].items():
        if isinstance((item.get("post") or {}).get("requestBody"), dict):
            return str(path)
    raise AssertionError("the spec has no submit operation")


def input_schema(document: Doc) -> dict[str, Any]:
    body = _deref(document, document["paths"][submit_path(document)]["post"]["requestBody"])
    found: dict[str, Any] = _deref(document, body["content"]["application/json"]["schema"])
    return found


def output_schema(document: Doc) -> dict[str, Any]:
    """The result's output object (the schema of the ``output`` property that has one)."""
    for schema in document["components"]["schemas"].values():
        output = (schema.get("properties") or {}).get("output")
        if isinstance(output, dict) and "$ref" in output:
            found: dict[str, Any] = _deref(document, output)
            return found
    raise AssertionError("the spec has no output object")


def state_schema(document: Doc) -> dict[str, Any]:
    """The enum of known states: the schema carrying ``x-terminal-states``."""
    for schema in document["components"]["schemas"].values():
        if isinstance(schema, dict) and "x-terminal-states" in schema:
            return schema
    raise AssertionError("the spec has no x-terminal-states")


def request_enums(document: Doc) -> dict[str, dict[str, Any]]:
    """The input properties that are closed enums, by name."""
    return {
        name: schema
        for name, schema in input_schema(document)["properties"].items()
        if isinstance(schema, dict) and isinstance(schema.get("enum"), list)
    }


def error_codes(document: Doc) -> set[int]:
    """Every error code the spec shows: in its error examples and the error schema's text."""
    found = {int(code) for code in re.findall(r"\b[1-5]\d\d\d\d\d\b", yaml.safe_dump(document))}
    return found


def fresh(taken: Any, name: str) -> str:
    """``name``, or ``name_new``..., whichever ``taken`` does not hold."""
    while name in taken:
        name += "_new"
    return name


def new_enum_value(values: list[Any]) -> Any:
    """A value next to the existing ones: one step past the largest number, a square
    resolution (the first one's shorter side; 16 pixels wider while taken), or a string with a
    suffix."""
    if all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        ordered = sorted(values)
        step = (ordered[-1] - ordered[0]) // max(len(ordered) - 1, 1) or 1
        return ordered[-1] + step
    first = re.fullmatch(r"(\d+)x(\d+)", str(values[0]))
    if first and all(re.fullmatch(r"\d+x\d+", str(v)) for v in values):
        width = height = min(int(first.group(1)), int(first.group(2)))
        while f"{width}x{height}" in values:
            width += 16
        return f"{width}x{height}"
    candidate = f"{values[0]}_new"
    while candidate in values:
        candidate = f"{candidate}_new"
    return candidate


def bad_value(schema: dict[str, Any]) -> Any:
    """A value of the wrong type for ``schema`` (a list fits none of the scalar types)."""
    return {"not": "this"} if schema.get("type") == "array" else ["not", "this"]


# The mutations ------------------------------------------------------------------------------------


@dataclass
class Mutation:
    """One spec change; ``facts`` tells the checks what was changed (names, values)."""

    name: str
    apply: Callable[[Doc], dict[str, Any]]
    facts: dict[str, Any] = field(default_factory=dict)

    def __call__(self, document: Doc) -> dict[str, Any]:
        self.facts = self.apply(document)
        return self.facts


# A new optional input property of each JSON type: schema, a good value, a default (or None).
NEW_PROPERTIES: dict[str, tuple[dict[str, Any], Any, Any]] = {
    "string": ({"type": "string", "minLength": 1}, "noir", "plain"),
    "integer": ({"type": "integer", "minimum": 0, "maximum": 1000}, 42, 7),
    "number": ({"type": "number", "minimum": 0, "maximum": 1}, 0.25, 0.5),
    "boolean": ({"type": "boolean"}, True, False),
    "array": ({"type": "array", "items": {"type": "string"}, "maxItems": 4}, ["a", "b"], []),
    "object": ({"type": "object", "additionalProperties": True}, {"k": 1}, {}),
}


def add_property(
    kind: str, *, with_default: bool, required: bool = False, prefix: str = "drill"
) -> Callable[[Doc], dict[str, Any]]:
    """A new input property of JSON type ``kind``, optional or required, maybe with a default."""

    def edit(document: Doc) -> dict[str, Any]:
        schema, good, default = NEW_PROPERTIES[kind]
        target = input_schema(document)
        suffix = "required" if required else ("default" if with_default else "plain")
        name = fresh(target["properties"], f"{prefix}_{kind}_{suffix}")
        node = {
            # A title of its own: openapi-python-client names an inline object's model by it.
            "title": name.replace("_", " ").capitalize(),
            "description": f"A new {kind} input added by the schema-change drill.",
            **schema,
        }
        if with_default:
            node["default"] = default
        target["properties"][name] = node
        if required:
            target.setdefault("required", []).append(name)
        return {
            "name": name,
            "type": kind,
            "good": good,
            "bad": bad_value(schema),
            "default": default if with_default else None,
            "has_default": with_default,
            "required": required,
        }

    return edit


def add_enum_value(document: Doc) -> dict[str, Any]:
    """A new value of every request enum, chosen from the existing values."""
    added = {}
    for name, schema in request_enums(document).items():
        value = new_enum_value(schema["enum"])
        schema["enum"].append(value)
        added[name] = value
    return {"added": added}


def remove_enum_value(document: Doc) -> dict[str, Any]:
    """The last non-default value of the last request enum with at least two values (the
    last, so that ``change_default``, which takes the first, changes another field)."""
    for name, schema in reversed(request_enums(document).items()):
        choices = [v for v in schema["enum"] if v != schema.get("default")]
        if len(schema["enum"]) >= 2 and choices:
            removed = choices[-1]
            schema["enum"].remove(removed)
            return {"field": name, "removed": removed, "left": list(schema["enum"])}
    raise AssertionError("no request enum to shrink")


def change_default(document: Doc) -> dict[str, Any]:
    """The first request enum with a default gets another of its values as the default."""
    for name, schema in request_enums(document).items():
        if "default" in schema and len(schema["enum"]) >= 2:
            others = [v for v in schema["enum"] if v != schema["default"]]
            old, schema["default"] = schema["default"], others[0]
            return {"field": name, "old": old, "new": others[0]}
    raise AssertionError("no request enum with a default")


def add_output(kind: str = "image") -> Callable[[Doc], dict[str, Any]]:
    """A new URI-valued output field with an ``x-output-kind``."""

    def edit(document: Doc) -> dict[str, Any]:
        output = output_schema(document)
        name = fresh(output["properties"], f"drill_{kind}")
        output["properties"][name] = {
            "type": "string",
            "format": "uri",
            "description": f"A new {kind} output added by the schema-change drill.",
            "x-output-kind": kind,
        }
        return {"name": name, "kind": kind}

    return edit


def add_kindless_output(document: Doc) -> dict[str, Any]:
    """A new URI-valued output field without ``x-output-kind``, as a field synced from the
    upstream page arrives (``thumbnail``): neither its name nor its description names a kind."""
    output = output_schema(document)
    name = fresh(output["properties"], "thumbnail")
    output["properties"][name] = {
        "type": "string",
        "format": "uri",
        "description": "A preview of the result.",
    }
    return {"name": name}


def add_state(document: Doc) -> dict[str, Any]:
    """A new known state that is not final."""
    schema = state_schema(document)
    name = fresh(schema["enum"], "drill_state")
    schema["enum"].append(name)
    return {"name": name}


def add_error_code(document: Doc) -> dict[str, Any]:
    """A new error code of an HTTP status the spec already answers with, as an example."""
    response = document["components"]["responses"]
    for key, value in response.items():
        content = (value.get("content") or {}).get("application/json")
        examples = (content or {}).get("examples") or {}
        for example in list(examples.values()):
            code = (example.get("value") or {}).get("error_code")
            if isinstance(code, int) and code // 1000 == 429:
                new = code
                while new in error_codes(document):
                    new += 1
                examples["drill_new_code"] = {
                    "summary": "A code added by the schema-change drill",
                    "value": {"error_code": new, "message": "A new reason."},
                }
                return {"response": key, "code": new, "known": code, "status": new // 1000}
    raise AssertionError("no 429 error example")


def change_model_path(document: Doc) -> dict[str, Any]:
    """The submit operation moves to another model path (its other methods move with it)."""
    old = submit_path(document)
    parts = old.rstrip("/").split("/")
    parts[-2] = fresh({parts[-2]}, f"{parts[-2]}-pro")
    new = "/".join(parts)
    paths = document["paths"]
    document["paths"] = {(new if k == old else k): v for k, v in paths.items()}
    return {"old": old, "new": new}


MODELS_PREFIX = "/v1/models/"


def add_model(document: Doc) -> dict[str, Any]:
    """A fourth model, by a spec edit alone: a new path under ``/v1/models/`` whose POST takes
    an input schema of its own (a prompt and a new enum) and whose GET is its model document,
    both copied from the default model's path with new operationIds. Nothing else changes: the
    client, the emulator and the checker must find it in the regenerated spec."""
    paths = document["paths"]
    taken = {str(p)[len(MODELS_PREFIX) :] for p in paths if str(p).startswith(MODELS_PREFIX)}
    model_id = fresh(taken, "openai/sora-2/drill/text-to-video")
    ids = {
        op["operationId"]
        for item in paths.values()
        for op in item.values()
        if isinstance(op, dict) and "operationId" in op
    }
    schemas = document["components"]["schemas"]
    schema_name = fresh(schemas, "DrillModelInput")
    choices = ["calm", "wild"]
    schemas[schema_name] = {
        "type": "object",
        "title": schema_name,
        "description": "The input of the model added by the schema-change drill.",
        "required": ["prompt"],
        "properties": {
            "prompt": {"title": "Prompt", "type": "string", "minLength": 1},
            "drill_style": {
                "title": "Drill style",
                "description": "An input only this model has.",
                "type": "string",
                "enum": choices,
                "default": choices[0],
            },
        },
        "additionalProperties": True,
    }
    item = copy.deepcopy(paths[submit_path(document)])
    post = item["post"]
    post["operationId"] = fresh(ids, "submit_drill_model")
    media = post["requestBody"]["content"]["application/json"]
    media["schema"] = {"$ref": f"#/components/schemas/{schema_name}"}
    media["examples"] = {"drill": {"value": {"prompt": "drill", "drill_style": choices[1]}}}
    get = item.get("get")
    if isinstance(get, dict):
        get["operationId"] = fresh(ids, "model_drill_model")
        for example in get["responses"]["200"]["content"]["application/json"]["examples"].values():
            example["value"]["model_id"] = model_id
    path = MODELS_PREFIX + model_id
    paths[path] = item
    return {
        "name": model_id,  # what codegen diff must name
        "model": model_id,
        "path": path,
        "field": "drill_style",
        "good": choices[1],
        "bad": "loud",
        "choices": choices,
    }


def apply_all(root: Path, mutations: list[Mutation]) -> dict[str, dict[str, Any]]:
    """Apply ``mutations`` to the spec of the copy at ``root``; their facts, by name."""
    document = load_spec(root)
    facts = {m.name: m(document) for m in mutations}
    save_spec(root, document)
    return facts


def additive_bundle() -> list[Mutation]:
    """The backward-compatible changes the whole suite must survive (issue 11, item 7)."""
    return [
        Mutation("integer_plain", add_property("integer", with_default=False)),
        Mutation("string_default", add_property("string", with_default=True)),
        Mutation("boolean_default", add_property("boolean", with_default=True)),
        Mutation("enum_values", add_enum_value),
        Mutation("output", add_output("image")),
        Mutation("kindless_output", add_kindless_output),
        Mutation("state", add_state),
        Mutation("error_code", add_error_code),
    ]
