"""Changes to what a single value may be: its type, enum, format, bounds and default."""

from __future__ import annotations

from typing import Any

from ._change import _LOWER_BOUNDS, _UPPER_BOUNDS, Effect, _key, _listing, _plural, show
from ._document import Ctx, _covers, _enum, schema_types
from ._recorder import Recorder

__all__ = ["ValueRules"]


class ValueRules(Recorder):
    """type-changed, enum-*, format-changed, constraint-changed, default-changed."""

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
