"""Changes to ``anyOf``, ``oneOf`` and ``allOf``: branches added, removed, or changed."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ._change import Effect, show
from ._document import Ctx, Document, _is_plain, as_schema, ref_name, schema_types
from ._recorder import Recorder

__all__ = ["CompositionRules"]


class CompositionRules(Recorder):
    """composition-changed, branch by branch."""

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
