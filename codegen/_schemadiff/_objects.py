"""Changes to an object's properties: added, removed, required, unknown ones allowed."""

from __future__ import annotations

from typing import Any

from ._change import Effect
from ._document import Ctx, _open_additional
from ._recorder import Recorder

__all__ = ["ObjectRules"]


class ObjectRules(Recorder):
    """property-*, additional-properties-changed."""

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
