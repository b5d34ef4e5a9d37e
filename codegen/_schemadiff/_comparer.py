"""The walk: two schemas compared keyword by keyword, each kind of change by its rule."""

from __future__ import annotations

from typing import Any

from ._change import _DOC_KEYS, _HANDLED_KEYS, Effect, show
from ._composition import CompositionRules
from ._document import Ctx, as_schema, ref_name
from ._objects import ObjectRules
from ._values import ValueRules

__all__ = ["SchemaComparer"]


class SchemaComparer(ValueRules, ObjectRules, CompositionRules):
    """Walks two documents side by side and records a Change for each difference."""

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
