"""``python -m codegen sync SOURCE``: keep the spec in step with RunComfy's published schema.

The upstream input schema and output object (see ``codegen._upstream``) are normalised from
RunComfy's dialect (``codegen._dialect``) and merged into the spec's input schema (the submit
body) and output object (the result's ``output``). Nothing else in the spec is touched: paths,
errors and states are the spec's own.

Merging, keyword by keyword:

- properties are added, removed and merged; ``required`` follows the upstream, in the spec's
  order; ``type``, ``enum``, ``const``, ``default``, ``format`` and ``items`` are the upstream's,
  and one the upstream does not give is removed;
- a constraint (bounds, ``pattern``, ``additionalProperties``, ...) the upstream gives is the
  upstream's; one the upstream does not mention is a judgement call of the spec (the prompt's
  ``minLength``, every object open to new fields) and is kept, and listed in the report;
- titles, descriptions and examples are the upstream's where it has any, else the spec's; a
  description that records a "Judgement call" is always the spec's;
- an enum in the output (a response) is written as an *open enum*, ``anyOf`` of the known values
  and a plain string, the spec's forward-compatibility rule; enums in the input stay closed.

The spec file is edited with ruamel.yaml's round trip, so formatting, quoting and comments stay
as they are and the file's diff is the change and nothing more.
"""

from __future__ import annotations

import io
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.scalarstring import LiteralScalarString

from ._dialect import Note, normalise
from ._diff import SpecDiff, SpecVersion, diff_versions
from ._lint import lint_document
from ._paths import Layout
from ._upstream import Upstream, UpstreamError, fetch_model, find_token, read_source

__all__ = ["SyncError", "SyncResult", "run_sync", "sync_text"]

EXIT_DIFFERS = 1
EXIT_USAGE = 2
JUDGEMENT_MARK = "Judgement call"
MODELS_PREFIX = "/v1/models/"

# Keywords whose absence upstream means "none": the upstream owns them.
_OWNED = frozenset({"type", "enum", "const", "default", "format", "items", "properties"})
# Keywords that only document; the upstream's win where it has any.
_DOCS = frozenset({"title", "description", "examples", "example", "$comment"})
# Where a new keyword goes among the existing ones, so additions read like the hand-written parts.
_ORDER = (
    "$ref",
    "title",
    "description",
    "type",
    "format",
    "anyOf",
    "oneOf",
    "allOf",
    "enum",
    "const",
    "default",
    "minimum",
    "exclusiveMinimum",
    "maximum",
    "exclusiveMaximum",
    "multipleOf",
    "minLength",
    "maxLength",
    "pattern",
    "minItems",
    "maxItems",
    "uniqueItems",
    "items",
    "required",
    "properties",
    "additionalProperties",
    "deprecated",
    "readOnly",
    "writeOnly",
    "examples",
    "example",
)


class SyncError(Exception):
    """The spec has no input schema or output object to merge into, or names another model."""


def _yaml() -> YAML:
    handler = YAML()
    handler.preserve_quotes = True
    handler.width = 4096  # never re-wrap a long line the author wrote on one line
    handler.indent(mapping=2, sequence=4, offset=2)
    return handler


def _dump(handler: YAML, document: Any) -> str:
    out = io.StringIO()
    handler.dump(document, out)
    return out.getvalue()


def _plain(node: Any) -> Any:
    """``node`` as plain dicts, lists and scalars, for comparison and printing."""
    if isinstance(node, dict):
        return {str(k): _plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_plain(v) for v in node]
    if isinstance(node, bool):
        return bool(node)
    return node


def _rt(node: Any) -> Any:
    """``node`` as ruamel round-trip nodes (block style), for insertion into the spec."""
    if isinstance(node, dict):
        mapping = CommentedMap()
        for key in sorted(node, key=_rank):
            mapping[key] = _rt(node[key])
        return mapping
    if isinstance(node, list):
        return CommentedSeq([_rt(v) for v in node])
    if isinstance(node, str) and "\n" in node.strip():
        return LiteralScalarString(node)  # a block scalar, as the hand-written ones are
    return node


def _rank(key: str) -> int:
    return _ORDER.index(key) if key in _ORDER else len(_ORDER)


def _short(value: Any, limit: int = 70) -> str:
    text = json.dumps(_plain(value), ensure_ascii=False)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _put(mapping: CommentedMap, key: str, value: Any) -> None:
    """Set ``key``: in place when present, else among its neighbours in ``_ORDER``."""
    if key in mapping:
        current = mapping[key]
        if isinstance(current, CommentedSeq) and isinstance(value, list):
            del current[:]
            current.extend(_rt(v) for v in value)
        else:
            mapping[key] = _rt(value)
        return
    rank = _rank(key)
    position = 0
    for index, existing in enumerate(mapping):
        if _rank(str(existing)) <= rank:
            position = index + 1
    mapping.insert(position, key, _rt(value))


def _is_open_enum(schema: Any) -> bool:
    branches = schema.get("anyOf") if isinstance(schema, dict) else None
    return (
        isinstance(branches, list)
        and len(branches) == 2
        and any(isinstance(b, dict) and "enum" in b for b in branches)
        and any(isinstance(b, dict) and "enum" not in b and "type" in b for b in branches)
    )


def _open_enums(schema: Any, where: str, notes: list[Note]) -> Any:
    """A response schema with each closed enum rewritten as an open one (recursively)."""
    if not isinstance(schema, dict):
        return schema
    out = dict(schema)
    if isinstance(out.get("properties"), dict):
        out["properties"] = {
            name: _open_enums(sub, f"{where}.{name}", notes)
            for name, sub in out["properties"].items()
        }
    if isinstance(out.get("items"), dict):
        out["items"] = _open_enums(out["items"], f"{where}.items", notes)
    if "enum" in out and isinstance(out.get("type"), str):
        kind = out.pop("type")
        values = out.pop("enum")
        out["anyOf"] = [{"type": kind, "enum": values}, {"type": kind}]
        notes.append(
            Note(where, "enum written as an open enum (anyOf the known values and a plain string)")
        )
    return out


@dataclass
class _Merger:
    """Merges one normalised upstream schema into the spec's, in place."""

    document: CommentedMap
    kept: list[Note] = field(default_factory=list)

    def schema(self, ours: CommentedMap, up: dict[str, Any], where: str, response: bool) -> None:
        if response and _is_open_enum(ours) and "anyOf" not in up:
            del ours["anyOf"]
        for key, value in up.items():
            if key == "properties" and isinstance(value, dict):
                if not isinstance(ours.get(key), dict):
                    _put(ours, key, CommentedMap())
                self.properties(ours[key], value, where, response)
            elif key == "items" and isinstance(value, dict) and isinstance(ours.get(key), dict):
                self.schema(ours[key], value, f"{where}.items", response)
            elif key == "required" and isinstance(value, list):
                self.required(ours, value)
            elif key == "description" and JUDGEMENT_MARK in str(ours.get(key, "")):
                if _plain(ours[key]) != value:
                    said = f"description records a judgement call; upstream's: {_short(value)}"
                    self.kept.append(Note(where, said))
            elif _plain(ours.get(key)) != _plain(value) or key not in ours:
                _put(ours, key, value)
        for key in [str(k) for k in ours]:
            if key in up:
                continue
            if key in _OWNED or key == "required" or key.startswith("x-runcomfy-"):
                del ours[key]
            elif key not in _DOCS and not key.startswith("x-"):
                self.kept.append(Note(where, f"{key}: {_short(ours[key])}"))

    def properties(
        self, ours: CommentedMap, up: dict[str, Any], where: str, response: bool
    ) -> None:
        for name, schema in up.items():
            here = f"{where}.{name}"
            mine = ours.get(name)
            if isinstance(mine, dict) and "$ref" in mine and "$ref" not in schema:
                # A hand-authored reference to a component: merge into what it names.
                mine = _resolve(self.document, mine)
            if isinstance(mine, CommentedMap) and isinstance(schema, dict):
                self.schema(mine, schema, here, response)
            else:
                ours[name] = _rt(schema)
        for name in [str(k) for k in ours if k not in up]:
            del ours[name]

    def required(self, ours: CommentedMap, up: list[Any]) -> None:
        current = [str(v) for v in ours.get("required") or []]
        wanted = [v for v in current if v in up] + [v for v in up if v not in current]
        if not wanted:
            ours.pop("required", None)
        elif wanted != current:
            _put(ours, "required", wanted)


def _resolve(document: CommentedMap, node: Any) -> Any:
    seen: set[str] = set()
    while isinstance(node, dict) and isinstance(node.get("$ref"), str):
        ref = str(node["$ref"])
        if not ref.startswith("#/") or ref in seen:
            raise SyncError(f"cannot follow $ref {ref!r}")
        seen.add(ref)
        node = document
        for token in ref[2:].split("/"):
            node = node[token.replace("~1", "/").replace("~0", "~")]
    return node


def _submit(document: CommentedMap) -> tuple[str, CommentedMap]:
    """The model's path and the input schema: the JSON body of its one POST under /v1/models/."""
    found: list[tuple[str, CommentedMap]] = []
    for path, item in (document.get("paths") or {}).items():
        post = item.get("post") if isinstance(item, dict) else None
        if not str(path).startswith(MODELS_PREFIX) or not isinstance(post, dict):
            continue
        body = _resolve(document, post.get("requestBody"))
        media = ((body or {}).get("content") or {}).get("application/json") or {}
        schema = _resolve(document, media.get("schema"))
        if isinstance(schema, CommentedMap):
            found.append((str(path), schema))
    if len(found) != 1:
        raise SyncError(
            f"expected one POST {MODELS_PREFIX}... with a JSON body, found {len(found)}"
        )
    return found[0]


def _output(document: CommentedMap) -> CommentedMap:
    """The output object: the schema of the ``output`` property of the result."""
    targets: dict[int, CommentedMap] = {}
    schemas = (document.get("components") or {}).get("schemas") or {}
    for schema in schemas.values():
        output = (
            (schema.get("properties") or {}).get("output") if isinstance(schema, dict) else None
        )
        if output is not None:
            target = _resolve(document, output)
            if isinstance(target, CommentedMap):
                targets[id(target)] = target
    if len(targets) != 1:
        raise SyncError(f"expected one schema for the result's output, found {len(targets)}")
    return next(iter(targets.values()))


@dataclass(frozen=True)
class SyncResult:
    """What syncing one upstream into one spec text gives."""

    upstream: Upstream
    old_text: str
    new_text: str
    diff: SpecDiff
    normalised: tuple[Note, ...]
    kept: tuple[Note, ...]
    problems: tuple[str, ...]
    round_trips: bool

    @property
    def changed(self) -> bool:
        return self.diff.old.document != self.diff.new.document

    def report(self) -> str:
        lines = [f"Upstream: {self.upstream.label}"]
        if self.upstream.model_id:
            lines[0] += f" (model {self.upstream.model_id})"
        skipped = [
            name
            for name, value in (
                ("input schema", self.upstream.input_schema),
                ("output schema", self.upstream.output_object),
            )
            if value is None
        ]
        if skipped:
            lines.append(
                f"No {' or '.join(skipped)} upstream: that part of the spec is left as it is."
            )
        for title, notes in (
            ("Normalised from RunComfy's dialect", self.normalised),
            ("Kept from the spec (judgement calls the upstream does not mention)", self.kept),
        ):
            if notes:
                lines += ["", f"{title}:", *(f"  {note}" for note in notes)]
        lines += ["", self.diff.report()]
        if not self.round_trips:
            lines += [
                "",
                "Warning: ruamel.yaml does not reproduce this spec file byte for byte; "
                "review its diff for formatting changes.",
            ]
        if self.problems:
            lines += ["", "The synced spec does not pass `codegen lint`; fix these by hand:"]
            lines += [f"  {problem}" for problem in self.problems]
        return "\n".join(lines)


def sync_text(spec_text: str, upstream: Upstream, *, label: str = "spec") -> SyncResult:
    """Merge ``upstream`` into the spec ``spec_text``; nothing is written."""
    handler = _yaml()
    document = handler.load(spec_text)
    round_trips = _dump(handler, document) == spec_text
    path, input_schema = _submit(document)
    spec_model = path[len(MODELS_PREFIX) :]
    if upstream.model_id and upstream.model_id.strip("/") != spec_model:
        raise SyncError(
            f"{upstream.label} describes model {upstream.model_id}, the spec model {spec_model}"
        )
    normalised: list[Note] = []
    merger = _Merger(document)
    if upstream.input_schema is not None:
        schema, notes = normalise(upstream.input_schema, "input")
        normalised += notes
        merger.schema(input_schema, schema, "input", response=False)
    if upstream.output_object is not None:
        schema, notes = normalise(upstream.output_object, "output")
        normalised += notes
        schema = _open_enums(schema, "output", normalised)
        merger.schema(_output(document), schema, "output", response=True)
    new_text = _dump(handler, document)
    old_doc = yaml.safe_load(spec_text)
    new_doc = yaml.safe_load(new_text)
    diff = diff_versions(SpecVersion(label, old_doc), SpecVersion("upstream", new_doc))
    problems = tuple(lint_document(new_doc)) if new_doc != old_doc else ()
    return SyncResult(
        upstream,
        spec_text,
        new_text if new_doc != old_doc else spec_text,
        diff,
        tuple(normalised),
        tuple(merger.kept),
        problems,
        round_trips,
    )


def _spec_server(spec_text: str) -> str:
    document = yaml.safe_load(spec_text)
    servers = document.get("servers") if isinstance(document, dict) else None
    if not servers or not isinstance(servers[0], dict) or not servers[0].get("url"):
        raise SyncError("the spec names no server: pass --base-url")
    return str(servers[0]["url"])


def run_sync(
    layout: Layout,
    source: Path | None,
    *,
    live: str | None = None,
    base_url: str | None = None,
    mode: str = "report",
    transport: Any = None,
    environ: dict[str, str] | None = None,
) -> int:
    """The ``sync`` command. ``mode``: ``report``, ``check``, ``write`` or ``generate``.

    Exit status: 0 in step (or written); 1 when ``check`` finds a difference, or the written spec
    fails lint or generation; 2 when the source or the spec cannot be read.
    """
    spec = layout.spec
    try:
        spec_text = spec.read_text(encoding="utf-8")
        if live is not None:
            token = find_token(environ)
            if token is None:
                print(
                    "sync: --live needs an API token in RUNCOMFY_API_TOKEN, RUNCOMFY_TOKEN or "
                    "YOUR_API_TOKEN",
                    file=sys.stderr,
                )
                return EXIT_USAGE
            upstream = fetch_model(
                live, base_url=base_url or _spec_server(spec_text), token=token, transport=transport
            )
        elif source is not None:
            upstream = read_source(source)
        else:
            print("sync: give a SOURCE file or --live MODEL_ID", file=sys.stderr)
            return EXIT_USAGE
        result = sync_text(spec_text, upstream, label=str(spec.relative_to(layout.root)))
    except (OSError, UpstreamError, SyncError) as exc:
        print(f"sync: {exc}", file=sys.stderr)
        return EXIT_USAGE
    print(result.report())
    target = spec.relative_to(layout.root)
    if not result.changed:
        print(f"\n{target} is in step with the upstream schema.")
        return 0
    if mode == "check":
        print(f"\n{target} differs from the upstream schema; nothing written (--write to apply).")
        return EXIT_DIFFERS
    if mode == "report":
        print(f"\n{target} differs from the upstream schema; run with --write to apply.")
        return 0
    spec.write_text(result.new_text, encoding="utf-8")
    print(f"\nwrote {target}")
    if result.problems:
        return EXIT_DIFFERS
    if mode == "generate":
        from ._generate import GeneratorError, generate

        try:
            generated = generate(layout)
        except GeneratorError as exc:
            print(f"sync: generate failed: {exc}", file=sys.stderr)
            return EXIT_DIFFERS
        shown = (
            generated.relative_to(layout.root)
            if generated.is_relative_to(layout.root)
            else generated
        )
        print(f"regenerated {shown}")
    return 0
