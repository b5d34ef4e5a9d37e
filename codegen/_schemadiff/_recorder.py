"""Recording a change where the walk is, read from both ends of the wire."""

from __future__ import annotations

from typing import Any

from ._change import Change, Effect, breaks_of
from ._document import Ctx, Document

__all__ = ["Recorder"]


class Recorder:
    """What every rule shares: both documents, the changes found, and how to record one."""

    def __init__(self, old: dict[str, Any], new: dict[str, Any]) -> None:
        self.old = Document(old)
        self.new = Document(new)
        self.changes: list[Change] = []
        self._stack: set[tuple[str | None, str | None, str]] = set()

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
            breaks_of(ctx.side, effect),
            documentation_only=effect is Effect.NEUTRAL,
            generated_client=generated_client,
        )

    def documentation(self, ctx: Ctx, keys: list[str], kind: str = "documentation-changed") -> None:
        if keys:
            self.add(
                ctx, kind, f"{', '.join(keys)} changed", (False, False), documentation_only=True
            )

    def schema(self, old_node: Any, new_node: Any, ctx: Ctx) -> None:
        """Compare two schemas (``SchemaComparer`` walks them; rules recurse through it)."""
        raise NotImplementedError

    @staticmethod
    def _unused(ctx: Ctx, breaks: tuple[bool, bool]) -> tuple[bool, bool]:
        return (False, False) if ctx.side == "unused" else breaks
