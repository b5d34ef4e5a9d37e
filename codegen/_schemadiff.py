"""Classify the changes between two versions of a schema, for clients and servers apart.

Each change is read from both ends of the wire. On a request the client writes and the server
reads; on a response it is the other way round. A change that lets a schema accept more (a new
enum value, a looser bound) breaks whoever *reads* it, who meets values it does not know; one
that accepts less breaks whoever *writes* it, who still sends what is now refused.

"""

from __future__ import annotations

import enum
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, Literal

__all__ = [
    "KINDS",
    "Change",
    "Ctx",
    "Document",
    "Effect",
    "SchemaComparer",
    "Side",
    "ref_name",
    "show",
]

Side = Literal["request", "response", "unused"]

# Keywords that only document a schema: a change to them is reported, never breaking.
_DOC_KEYS = frozenset(
    {"description", "summary", "examples", "example", "$comment", "readOnly", "writeOnly"}
)
_LOWER_BOUNDS = ("minimum", "exclusiveMinimum", "minLength", "minItems", "minProperties")
_UPPER_BOUNDS = ("maximum", "exclusiveMaximum", "maxLength", "maxItems", "maxProperties")
# Keywords compared by a dedicated rule below; any other keyword that differs is reported as a
# generic change, breaking both ways, because its meaning is not understood here.
_HANDLED_KEYS = (
    _DOC_KEYS
    | set(_LOWER_BOUNDS)
    | set(_UPPER_BOUNDS)
    | {
        "$ref",
        "type",
        "nullable",
        "enum",
        "const",
        "properties",
        "required",
        "additionalProperties",
        "items",
        "format",
        "pattern",
        "multipleOf",
        "uniqueItems",
        "default",
        "title",
        "deprecated",
        "anyOf",
        "oneOf",
        "allOf",
    }
)

# Every kind of change, with what it covers. Change checks its kind against this table, so the
# table (and the tests, which cover each entry) cannot fall behind the code.
KINDS: dict[str, str] = {
    "operation-added": "a new method+path",
    "operation-removed": "a method+path is gone",
    "operation-moved": "same operationId, other method or path",
    "operation-id-changed": "same method+path, other operationId (generated names follow it)",
    "security-changed": "the security requirements of an operation",
    "security-scheme-added": "a new scheme under components.securitySchemes",
    "security-scheme-removed": "a scheme is gone",
    "security-scheme-changed": "type, scheme, location or name of a scheme",
    "server-added": "a new server URL",
    "server-removed": "a server URL is gone",
    "server-default-changed": "the first server, the client's default base URL",
    "parameter-added": "a new parameter",
    "parameter-removed": "a parameter is gone",
    "parameter-required-changed": "a parameter became required or optional",
    "parameter-changed": "style, explode or allowReserved of a parameter",
    "request-body-added": "an operation takes a body now",
    "request-body-removed": "an operation takes no body any more",
    "request-body-required-changed": "the body became required or optional",
    "media-type-added": "a new content type of a body",
    "media-type-removed": "a content type of a body is gone",
    "response-added": "a new response status",
    "response-removed": "a response status is gone",
    "header-added": "a new response header",
    "header-removed": "a response header is gone",
    "header-required-changed": "a response header became required or optional",
    "type-changed": "the JSON type(s) of a schema",
    "enum-value-added": "a new value of an enum",
    "enum-value-removed": "an enum value is gone",
    "enum-added": "a schema is restricted to fixed values",
    "enum-removed": "a schema is no longer restricted to fixed values",
    "property-added": "a new object property",
    "property-removed": "an object property is gone",
    "property-required-changed": "a property became required or optional",
    "additional-properties-changed": "unknown properties allowed, refused or constrained",
    "format-changed": "the format of a string",
    "constraint-changed": "a bound, pattern, multipleOf or uniqueItems",
    "default-changed": "the default of a property",
    "composition-changed": "anyOf/oneOf/allOf branches",
    "schema-renamed": "a reference points to a differently named component",
    "schema-changed": "any other keyword, not understood here: breaking both ways",
    "component-added": "a new component schema that no operation uses",
    "component-removed": "a component schema that no operation uses is gone",
    "deprecated-changed": "deprecated set or cleared",
    "title-changed": "a schema title (generated class names may follow it)",
    "documentation-changed": "descriptions, summaries, tags or examples",
    "extension-changed": "x- extension keywords",
    "info-changed": "the info object or the OpenAPI version",
}


class Effect(enum.Enum):
    """How the set of values a schema accepts moved."""

    WIDER = "wider"
    NARROWER = "narrower"
    DIFFERENT = "different"
    NEUTRAL = "neutral"


def _breaks(side: Side, effect: Effect) -> tuple[bool, bool]:
    """(breaks clients, breaks servers) for a schema that moved by ``effect`` on ``side``."""
    if side == "unused" or effect is Effect.NEUTRAL:
        return False, False
    if effect is Effect.DIFFERENT:
        return True, True
    wider = effect is Effect.WIDER
    # A wider schema breaks its reader, a narrower one its writer. The server reads requests.
    return (not wider, wider) if side == "request" else (wider, not wider)


@dataclass(frozen=True)
class Change:
    """One classified change.

    ``operation`` is ``"METHOD /path"`` (None for the document as a whole); ``where`` names the
    part of it (``"response 200 application/json"``) and ``path`` the spot inside its schema
    (``"RequestStatus.status -> KnownRequestState"``).
    """

    operation: str | None
    operation_id: str | None
    where: str
    path: str
    kind: str
    message: str
    breaks_clients: bool
    breaks_servers: bool
    documentation_only: bool = False
    generated_client: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown change kind {self.kind!r}: add it to KINDS")

    @property
    def breaking(self) -> bool:
        return self.breaks_clients or self.breaks_servers

    @property
    def location(self) -> str:
        return f"{self.where}: {self.path}" if self.path else self.where

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "location": self.location, "breaking": self.breaking}


def show(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)


def _key(value: Any) -> str:
    """A type-aware identity for JSON values: ``4``, ``4.0``, ``"4"`` and ``True`` differ."""
    return f"{type(value).__name__}:{show(value)}"


def _plural(values: list[Any]) -> str:
    return "value" if len(values) == 1 else "values"


def _listing(values: list[Any]) -> str:
    return ", ".join(show(v) for v in values)


class Document:
    """One side of the comparison: follows local ``$ref``s in its own document."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.raw = document

    def pointer(self, ref: str) -> Any:
        node: Any = self.raw
        for token in ref[2:].split("/") if ref != "#" else []:
            token = token.replace("~1", "/").replace("~0", "~")
            if isinstance(node, list):
                node = node[int(token)]
            elif isinstance(node, dict) and token in node:
                node = node[token]
            else:
                return None
        return node

    def resolve(self, node: Any) -> tuple[Any, str | None]:
        """The node behind any chain of local refs, and the last ref followed (or None)."""
        last: str | None = None
        seen: set[str] = set()
        while isinstance(node, dict) and isinstance(node.get("$ref"), str):
            ref: str = node["$ref"]
            if not ref.startswith("#") or ref in seen:
                break
            seen.add(ref)
            last = ref
            node = self.pointer(ref)
        return node, last


def ref_name(ref: str | None) -> str | None:
    return ref.rsplit("/", 1)[-1] if ref else None


def as_schema(node: Any) -> dict[str, Any]:
    if node is True or node is None:
        return {}
    if node is False:
        return {"not": {}}
    return node if isinstance(node, dict) else {}


def schema_types(schema: dict[str, Any]) -> set[str] | None:
    raw = schema.get("type")
    if raw is None:
        return None
    found = {raw} if isinstance(raw, str) else set(raw)
    if schema.get("nullable") is True:
        found.add("null")
    return found


def _covers(types: set[str], kind: str) -> bool:
    return kind in types or (kind == "integer" and "number" in types)


def _enum(schema: dict[str, Any]) -> list[Any] | None:
    if "const" in schema:
        return [schema["const"]]
    values = schema.get("enum")
    return list(values) if isinstance(values, list) else None


def _open_additional(schema: dict[str, Any]) -> bool | None:
    """True when unknown properties are allowed, False when refused, None when constrained."""
    extra = schema.get("additionalProperties", True)
    if extra is True or extra == {}:
        return True
    if extra is False:
        return False
    return None


def _is_plain(schema: dict[str, Any], kinds: set[str] | None) -> bool:
    """A branch that accepts any value of its type: what makes a sibling enum an open enum."""
    constraining = {"enum", "const", "pattern", "format", "anyOf", "oneOf", "allOf", "not"}
    return kinds is not None and schema_types(schema) == kinds and not constraining & schema.keys()


@dataclass
class Ctx:
    """Where the walk is: the operation, which end of the wire writes, and the schema path."""

    operation: str | None
    operation_id: str | None
    side: Side
    where: str
    path: str
    open_enum: bool = False

    def at(self, suffix: str, *, open_enum: bool = False) -> Ctx:
        return Ctx(
            self.operation,
            self.operation_id,
            self.side,
            self.where,
            self.path + suffix,
            open_enum,
        )

    def under(self, where: str, side: Side | None = None) -> Ctx:
        """A fresh location in the same operation, e.g. a parameter or a response."""
        return Ctx(self.operation, self.operation_id, side or self.side, where, "")


class SchemaComparer:
    """Walks two documents side by side and records a Change for each difference."""

    def __init__(self, old: dict[str, Any], new: dict[str, Any]) -> None:
        self.old = Document(old)
        self.new = Document(new)
        self.changes: list[Change] = []
        self._stack: set[tuple[str | None, str | None, str]] = set()

    # -- recording ------------------------------------------------------------------------------

    def add(
        self,
        ctx: Ctx,
        kind: str,
        message: str,
        breaks: tuple[bool, bool],
        *,
        documentation_only: bool = False,
        generated_client: str | None = None,
    ) -> None:
        self.changes.append(
            Change(
                operation=ctx.operation,
                operation_id=ctx.operation_id,
                where=ctx.where,
                path=ctx.path,
                kind=kind,
                message=message,
                breaks_clients=breaks[0],
                breaks_servers=breaks[1],
                documentation_only=documentation_only,
                generated_client=generated_client,
            )
        )

    def effect(
        self,
        ctx: Ctx,
        kind: str,
        message: str,
        effect: Effect,
        *,
        generated_client: str | None = None,
    ) -> None:
        self.add(
            ctx,
            kind,
            message,
            _breaks(ctx.side, effect),
            documentation_only=effect is Effect.NEUTRAL,
            generated_client=generated_client,
        )

    def documentation(self, ctx: Ctx, keys: list[str], kind: str = "documentation-changed") -> None:
        if keys:
            self.add(
                ctx, kind, f"{', '.join(keys)} changed", (False, False), documentation_only=True
            )

    # -- schemas --------------------------------------------------------------------------------

    def schema(self, old_node: Any, new_node: Any, ctx: Ctx) -> None:
        old_raw, old_ref = self.old.resolve(old_node)
        new_raw, new_ref = self.new.resolve(new_node)
        old_name, new_name = ref_name(old_ref), ref_name(new_ref)
        if old_ref and new_ref and old_name != new_name:
            self.add(
                ctx,
                "schema-renamed",
                f"schema {old_name} is now {new_name}",
                (ctx.side != "unused", False),
                generated_client="the generated model classes are renamed with it",
            )
        guard = (old_ref, new_ref, ctx.side)
        if old_ref and new_ref and guard in self._stack:
            return  # a recursive schema: its body is being compared further up
        self._stack.add(guard)
        try:
            self._schema_body(as_schema(old_raw), as_schema(new_raw), ctx, new_name)
        finally:
            self._stack.discard(guard)

    def _schema_body(
        self, old: dict[str, Any], new: dict[str, Any], ctx: Ctx, name: str | None
    ) -> None:
        if not self._types(old, new, ctx):
            return  # disjoint types: nothing below is comparable
        self._enum(old, new, ctx, name)
        self._objects(old, new, ctx)
        if "items" in old or "items" in new:
            self.schema(old.get("items", {}), new.get("items", {}), ctx.at("[]"))
        self._format(old, new, ctx)
        self._bounds(old, new, ctx)
        self._default(old, new, ctx)
        for keyword in ("anyOf", "oneOf", "allOf"):
            self._composition(keyword, old, new, ctx)
        if old.get("deprecated") != new.get("deprecated"):
            state = "deprecated" if new.get("deprecated") else "no longer deprecated"
            self.add(ctx, "deprecated-changed", state, (False, False), documentation_only=True)
        self.documentation(ctx, sorted(k for k in _DOC_KEYS if old.get(k) != new.get(k)))
        if old.get("title") != new.get("title"):
            self.add(
                ctx,
                "title-changed",
                f"title {show(old.get('title'))} -> {show(new.get('title'))}",
                (False, False),
                documentation_only=True,
                generated_client="generated class names may follow titles",
            )
        extensions = sorted(
            k for k in old.keys() | new.keys() if k.startswith("x-") and old.get(k) != new.get(k)
        )
        self.documentation(ctx, extensions, "extension-changed")
        unknown = sorted(
            k
            for k in old.keys() | new.keys()
            if k not in _HANDLED_KEYS and not k.startswith("x-") and old.get(k) != new.get(k)
        )
        if unknown:
            self.effect(ctx, "schema-changed", f"{', '.join(unknown)} changed", Effect.DIFFERENT)

    def _types(self, old: dict[str, Any], new: dict[str, Any], ctx: Ctx) -> bool:
        """Reports a type change; False when the old and new types have nothing in common."""
        before, after = schema_types(old), schema_types(new)
        if before == after:
            return True
        if before is None or after is None:
            effect = Effect.NARROWER if before is None else Effect.WIDER
            shown = "any" if before is None else "/".join(sorted(before))
            now = "any" if after is None else "/".join(sorted(after))
            self.effect(ctx, "type-changed", f"type {shown} -> {now}", effect)
            return True
        assert before is not None and after is not None
        gained = {t for t in after if not _covers(before, t)}
        lost = {t for t in before if not _covers(after, t)}
        if not (gained or lost):
            return True
        effect = (
            Effect.DIFFERENT if gained and lost else Effect.WIDER if gained else Effect.NARROWER
        )
        self.effect(
            ctx,
            "type-changed",
            f"type {'/'.join(sorted(before))} -> {'/'.join(sorted(after))}",
            effect,
        )
        return bool(before & after) or any(_covers(after, t) for t in before)

    def _enum(self, old: dict[str, Any], new: dict[str, Any], ctx: Ctx, name: str | None) -> None:
        before, after = _enum(old), _enum(new)
        if before == after:
            return
        label = f"enum {name}" if name else "enum"
        if before is None:
            self.effect(
                ctx, "enum-added", f"now restricted to {_listing(after or [])}", Effect.NARROWER
            )
            return
        if after is None:
            self.effect(ctx, "enum-removed", f"{label} removed: any value allowed", Effect.WIDER)
            return
        old_keys = {_key(v) for v in before}
        new_keys = {_key(v) for v in after}
        added = [v for v in after if _key(v) not in old_keys]
        removed = [v for v in before if _key(v) not in new_keys]
        if added:
            note = None
            if ctx.side == "response":
                shown = name or "this enum"
                note = (
                    f"tolerated: {shown} is an open enum (anyOf its known values and a plain "
                    "string), so the new value parses as a plain str"
                    if ctx.open_enum
                    else f"breaks: {shown} is a closed enum, so parsing the new value raises "
                    "TypeError until the client is regenerated"
                )
            self.effect(
                ctx,
                "enum-value-added",
                f"{label}: {_plural(added)} {_listing(added)} added"
                + (" (breaks clients that switch exhaustively)" if ctx.side == "response" else ""),
                Effect.WIDER,
                generated_client=note,
            )
        if removed:
            self.effect(
                ctx,
                "enum-value-removed",
                f"{label}: {_plural(removed)} {_listing(removed)} removed",
                Effect.NARROWER,
            )

    def _objects(self, old: dict[str, Any], new: dict[str, Any], ctx: Ctx) -> None:
        old_props: dict[str, Any] = old.get("properties") or {}
        new_props: dict[str, Any] = new.get("properties") or {}
        old_req = set(old.get("required") or [])
        new_req = set(new.get("required") or [])
        old_open, new_open = _open_additional(old), _open_additional(new)
        request = ctx.side == "request"
        for prop in [p for p in new_props if p not in old_props]:
            here = ctx.at(f".{prop}")
            refused_before = old_open is False
            if prop in new_req:
                breaks = (True, refused_before) if request else (refused_before, True)
                message = f"new required {ctx.side} property {prop}"
            else:
                breaks = (False, refused_before) if request else (refused_before, False)
                message = f"new optional {ctx.side} property {prop}"
            self.add(here, "property-added", message, self._unused(ctx, breaks))
        for prop in [p for p in old_props if p not in new_props]:
            here = ctx.at(f".{prop}")
            refused_now = new_open is False
            if request:
                breaks = (refused_now, prop in old_req)
                message = f"request property {prop} removed" + (
                    ": clients that still send it are refused"
                    if refused_now
                    else ": clients that still send it are ignored"
                )
            else:
                breaks = (prop in old_req, refused_now)
                status = "required" if prop in old_req else "optional"
                message = f"{status} response property {prop} removed"
            self.add(here, "property-removed", message, self._unused(ctx, breaks))
        for prop in sorted((old_req ^ new_req) & (old_props.keys() & new_props.keys())):
            now_required = prop in new_req
            self.effect(
                ctx.at(f".{prop}"),
                "property-required-changed",
                f"{prop} is now {'required' if now_required else 'optional'}",
                Effect.NARROWER if now_required else Effect.WIDER,
            )
        for prop in [p for p in old_props if p in new_props]:
            self.schema(old_props[prop], new_props[prop], ctx.at(f".{prop}"))
        if old_open != new_open or (old_open is None and new_open is None):
            self._additional(old, new, old_open, new_open, ctx)

    def _additional(
        self,
        old: dict[str, Any],
        new: dict[str, Any],
        old_open: bool | None,
        new_open: bool | None,
        ctx: Ctx,
    ) -> None:
        if old_open is None and new_open is None:
            self.schema(old["additionalProperties"], new["additionalProperties"], ctx.at("{*}"))
            return
        narrower = old_open is True or new_open is False
        effect = Effect.NARROWER if narrower else Effect.WIDER
        describe = {True: "allowed", False: "refused", None: "constrained"}
        self.effect(
            ctx,
            "additional-properties-changed",
            f"unknown properties: {describe[old_open]} -> {describe[new_open]}",
            effect,
        )

    def _format(self, old: dict[str, Any], new: dict[str, Any], ctx: Ctx) -> None:
        before, after = old.get("format"), new.get("format")
        if before == after:
            return
        effect = (
            Effect.NARROWER
            if before is None
            else Effect.WIDER
            if after is None
            else Effect.DIFFERENT
        )
        self.effect(ctx, "format-changed", f"format {show(before)} -> {show(after)}", effect)

    def _bounds(self, old: dict[str, Any], new: dict[str, Any], ctx: Ctx) -> None:
        for keyword in (*_LOWER_BOUNDS, *_UPPER_BOUNDS):
            before, after = old.get(keyword), new.get(keyword)
            if before == after:
                continue
            if before is None:
                effect = Effect.NARROWER
            elif after is None:
                effect = Effect.WIDER
            elif keyword in _LOWER_BOUNDS:
                effect = Effect.NARROWER if after > before else Effect.WIDER
            else:
                effect = Effect.NARROWER if after < before else Effect.WIDER
            self.effect(
                ctx, "constraint-changed", f"{keyword} {show(before)} -> {show(after)}", effect
            )
        for keyword in ("pattern", "multipleOf"):
            before, after = old.get(keyword), new.get(keyword)
            if before != after:
                effect = (
                    Effect.NARROWER
                    if before is None
                    else Effect.WIDER
                    if after is None
                    else Effect.DIFFERENT
                )
                self.effect(
                    ctx,
                    "constraint-changed",
                    f"{keyword} {show(before)} -> {show(after)}",
                    effect,
                )
        if bool(old.get("uniqueItems")) != bool(new.get("uniqueItems")):
            effect = Effect.NARROWER if new.get("uniqueItems") else Effect.WIDER
            self.effect(
                ctx,
                "constraint-changed",
                f"uniqueItems {show(old.get('uniqueItems'))} -> {show(new.get('uniqueItems'))}",
                effect,
            )

    def _default(self, old: dict[str, Any], new: dict[str, Any], ctx: Ctx) -> None:
        if "default" not in old and "default" not in new:
            return
        before, after = old.get("default"), new.get("default")
        if _key(before) == _key(after) and ("default" in old) == ("default" in new):
            return
        message = f"default {show(before)} -> {show(after)}"
        if ctx.side == "request" and "default" in old and "default" in new:
            # A request that omits the field now means something else on either side.
            self.add(
                ctx,
                "default-changed",
                message + ": omitting the field changes meaning",
                (True, True),
            )
        else:
            self.add(ctx, "default-changed", message, (False, False), documentation_only=True)

    def _composition(
        self, keyword: str, old: dict[str, Any], new: dict[str, Any], ctx: Ctx
    ) -> None:
        before: list[Any] = list(old.get(keyword) or [])
        after: list[Any] = list(new.get(keyword) or [])
        if not before and not after:
            return
        if not before or not after:
            self.effect(
                ctx,
                "composition-changed",
                f"{keyword} {'added' if after else 'removed'}",
                Effect.DIFFERENT,
            )
            return
        pairs, gone, came = self._match_branches(before, after)
        # More anyOf/oneOf branches accept more; more allOf branches accept less.
        widen = Effect.WIDER if keyword != "allOf" else Effect.NARROWER
        narrow = Effect.NARROWER if keyword != "allOf" else Effect.WIDER
        for index in gone:
            self.effect(
                ctx,
                "composition-changed",
                f"{keyword} branch {self._label(self.old, before[index], index)} removed",
                narrow,
            )
        for index in came:
            self.effect(
                ctx,
                "composition-changed",
                f"{keyword} branch {self._label(self.new, after[index], index)} added",
                widen,
            )
        for i, j in pairs:
            new_branch, _ = self.new.resolve(after[j])
            kinds = schema_types(as_schema(new_branch))
            is_open = keyword != "allOf" and any(
                _is_plain(as_schema(self.new.resolve(b)[0]), kinds)
                for k, b in enumerate(after)
                if k != j
            )
            self.schema(
                before[i],
                after[j],
                ctx.at(f" -> {self._label(self.new, after[j], j)}", open_enum=is_open),
            )

    @staticmethod
    def _label(doc: Document, branch: Any, index: int) -> str:
        _, ref = doc.resolve(branch)
        if ref:
            return ref_name(ref) or f"[{index}]"
        kinds = schema_types(as_schema(branch))
        return f"[{index}]" + (f" ({'/'.join(sorted(kinds))})" if kinds else "")

    def _match_branches(
        self, before: list[Any], after: list[Any]
    ) -> tuple[list[tuple[int, int]], list[int], list[int]]:
        """Pair branches by ref name, then by type, then by position."""
        pairs: list[tuple[int, int]] = []
        free_old = list(range(len(before)))
        free_new = list(range(len(after)))

        def pair_by(key: Callable[[Document, Any], str | None]) -> None:
            for i in list(free_old):
                wanted = key(self.old, before[i])
                if wanted is None:
                    continue
                for j in free_new:
                    if key(self.new, after[j]) == wanted:
                        pairs.append((i, j))
                        free_old.remove(i)
                        free_new.remove(j)
                        break

        pair_by(lambda doc, b: ref_name(doc.resolve(b)[1]))
        pair_by(
            lambda doc, b: (
                None
                if doc.resolve(b)[1]
                else show(sorted(schema_types(as_schema(doc.resolve(b)[0])) or []))
            )
        )
        while free_old and free_new and len(free_old) == len(free_new):
            pairs.append((free_old.pop(0), free_new.pop(0)))
        return pairs, free_old, free_new

    @staticmethod
    def _unused(ctx: Ctx, breaks: tuple[bool, bool]) -> tuple[bool, bool]:
        return (False, False) if ctx.side == "unused" else breaks
