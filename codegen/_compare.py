"""Classify every change between two OpenAPI documents, for clients and for servers apart.

"Breaking for clients" means a client built from OLD fails against a service that follows NEW.
"Breaking for servers" means a server built from OLD (the emulator, a mock, a contract checker's
expectations) fails against a client built from NEW. Operations are matched by method and path,
then by operationId (a match by id alone is a moved operation). Renaming what generated code is
named after (an operationId, a component schema) counts as breaking for clients too: code that
imports the generated package stops working even though the wire format is the same.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

from ._schemadiff import KINDS, Change, Ctx, Document, Effect, SchemaComparer, ref_name, show

__all__ = ["KINDS", "Change", "compare_documents"]

METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")


def _changed(old: dict[str, Any], new: dict[str, Any], keys: tuple[str, ...]) -> list[str]:
    return sorted(k for k in keys if old.get(k) != new.get(k))


class _Comparer(SchemaComparer):
    """Adds operations, parameters, bodies, responses, security and servers to the schema walk."""

    def compare(self) -> list[Change]:
        old_ops, new_ops = _operations(self.old.raw), _operations(self.new.raw)
        new_by_id = {op["operationId"]: key for key, op in new_ops.items() if op.get("operationId")}
        matched: set[tuple[str, str]] = set()
        for key, op in old_ops.items():
            label = f"{key[0].upper()} {key[1]}"
            op_id = op.get("operationId")
            target = key if key in new_ops else new_by_id.get(op_id) if op_id else None
            if target is not None and target in matched:
                target = None
            scope = Ctx(label, op_id, "request", "operation", "")
            if target is None:
                self.add(scope, "operation-removed", "operation removed", (True, False))
                continue
            matched.add(target)
            if target != key:
                new_label = f"{target[0].upper()} {target[1]}"
                self.add(
                    scope,
                    "operation-moved",
                    f"now {new_label}: clients built from the old spec call a path that is gone",
                    (True, True),
                )
            self._operation(op, new_ops[target], scope)
        for key in new_ops:
            if key not in matched:
                op_id = new_ops[key].get("operationId")
                scope = Ctx(f"{key[0].upper()} {key[1]}", op_id, "request", "operation", "")
                self.add(scope, "operation-added", "operation added", (False, True))
        self._document()
        self._unused_components()
        return _merge_statuses(self.changes)

    def _operation(self, old: dict[str, Any], new: dict[str, Any], scope: Ctx) -> None:
        if old.get("operationId") != new.get("operationId"):
            self.add(
                scope,
                "operation-id-changed",
                f"operationId {show(old.get('operationId'))} -> {show(new.get('operationId'))}",
                (True, False),
                generated_client="the generated module and function take the operationId's name",
            )
            scope = Ctx(scope.operation, new.get("operationId"), "request", scope.where, "")
        if old.get("deprecated") != new.get("deprecated"):
            state = "deprecated" if new.get("deprecated") else "no longer deprecated"
            self.add(scope, "deprecated-changed", state, (False, False), documentation_only=True)
        self.documentation(
            scope, sorted(k for k in ("summary", "description", "tags") if old.get(k) != new.get(k))
        )
        self._security(
            old["_security"],
            new["_security"],
            scope.under("security", "request"),
        )
        self._parameters(old, new, scope)
        self._request_body(old.get("requestBody"), new.get("requestBody"), scope)
        self._responses(old.get("responses") or {}, new.get("responses") or {}, scope)

    def _security(self, old: list[Any], new: list[Any], ctx: Ctx) -> None:
        def alternatives(requirements: list[Any]) -> set[str]:
            return {
                " + ".join(f"{k}{sorted(v) if v else ''}" for k, v in sorted(r.items())) or "(none)"
                for r in requirements
            }

        before, after = alternatives(old), alternatives(new)
        if before == after:
            return
        anonymous_before = not before or "(none)" in before
        anonymous_after = not after or "(none)" in after
        if anonymous_before and not anonymous_after:
            effect = Effect.NARROWER
        elif anonymous_after and not anonymous_before:
            effect = Effect.WIDER
        else:
            effect = (
                Effect.WIDER
                if before < after
                else Effect.NARROWER
                if after < before
                else Effect.DIFFERENT
            )
        shown = " or ".join(sorted(before)) or "(none)", " or ".join(sorted(after)) or "(none)"
        self.effect(ctx, "security-changed", f"security {shown[0]} -> {shown[1]}", effect)

    def _parameters(self, old: dict[str, Any], new: dict[str, Any], scope: Ctx) -> None:
        def table(doc: Document, op: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
            found: dict[tuple[str, str], dict[str, Any]] = {}
            for raw in op.get("_parameters", []):
                param, _ = doc.resolve(raw)
                if isinstance(param, dict) and "name" in param:
                    found[(str(param.get("in")), str(param["name"]))] = param
            return found

        before, after = table(self.old, old), table(self.new, new)
        for key in [k for k in after if k not in before]:
            ctx = scope.under(f"{key[0]} parameter {key[1]}", "request")
            required = bool(after[key].get("required"))
            self.add(
                ctx,
                "parameter-added",
                f"new {'required' if required else 'optional'} {key[0]} parameter",
                (required, False),
            )
        for key in [k for k in before if k not in after]:
            ctx = scope.under(f"{key[0]} parameter {key[1]}", "request")
            was_required = bool(before[key].get("required"))
            self.add(ctx, "parameter-removed", f"{key[0]} parameter removed", (False, was_required))
        for key in [k for k in before if k in after]:
            ctx = scope.under(f"{key[0]} parameter {key[1]}", "request")
            old_param, new_param = before[key], after[key]
            if bool(old_param.get("required")) != bool(new_param.get("required")):
                now = bool(new_param.get("required"))
                self.effect(
                    ctx,
                    "parameter-required-changed",
                    f"now {'required' if now else 'optional'}",
                    Effect.NARROWER if now else Effect.WIDER,
                )
            self.schema(old_param.get("schema", {}), new_param.get("schema", {}), ctx)
            self.documentation(
                ctx,
                sorted(
                    k
                    for k in ("description", "example", "examples")
                    if old_param.get(k) != new_param.get(k)
                ),
            )
            for keyword in ("style", "explode", "allowReserved"):
                if old_param.get(keyword) != new_param.get(keyword):
                    self.effect(ctx, "parameter-changed", f"{keyword} changed", Effect.DIFFERENT)

    def _request_body(self, old_raw: Any, new_raw: Any, scope: Ctx) -> None:
        old, _ = self.old.resolve(old_raw)
        new, _ = self.new.resolve(new_raw)
        ctx = scope.under("request body", "request")
        if old is None and new is None:
            return
        if old is None:
            required = bool(new.get("required"))
            self.add(
                ctx,
                "request-body-added",
                f"{'required' if required else 'optional'} request body added",
                (required, False),
            )
            return
        if new is None:
            self.add(
                ctx,
                "request-body-removed",
                "request body removed",
                (False, bool(old.get("required"))),
            )
            return
        if bool(old.get("required")) != bool(new.get("required")):
            now = bool(new.get("required"))
            self.effect(
                ctx,
                "request-body-required-changed",
                f"now {'required' if now else 'optional'}",
                Effect.NARROWER if now else Effect.WIDER,
            )
        self.documentation(ctx, _changed(old, new, ("description",)))
        self._content(old.get("content") or {}, new.get("content") or {}, ctx)

    def _content(self, old: dict[str, Any], new: dict[str, Any], ctx: Ctx) -> None:
        for media in [m for m in new if m not in old]:
            self.effect(ctx, "media-type-added", f"media type {media} added", Effect.WIDER)
        for media in [m for m in old if m not in new]:
            self.effect(ctx, "media-type-removed", f"media type {media} removed", Effect.NARROWER)
        for media in [m for m in old if m in new]:
            here = ctx.under(f"{ctx.where} {media}")
            _, old_ref = self.old.resolve(old[media].get("schema", {}))
            _, new_ref = self.new.resolve(new[media].get("schema", {}))
            here.path = ref_name(new_ref) or ref_name(old_ref) or ""
            self.schema(old[media].get("schema", {}), new[media].get("schema", {}), here)
            examples = [
                k for k in ("example", "examples") if old[media].get(k) != new[media].get(k)
            ]
            self.documentation(here.under(here.where), examples)

    def _responses(self, old: dict[str, Any], new: dict[str, Any], scope: Ctx) -> None:
        for status in [s for s in new if s not in old]:
            ctx = scope.under(f"response {status}", "response")
            success = str(status).startswith("2")
            self.add(
                ctx,
                "response-added",
                "new success response" if success else "new response status",
                (success, False),
                generated_client=None
                if success
                else "until regenerated, sora2_api returns parsed=None for it",
            )
        for status in [s for s in old if s not in new]:
            ctx = scope.under(f"response {status}", "response")
            self.add(ctx, "response-removed", "response status removed", (False, True))
        for status in [s for s in old if s in new]:
            ctx = scope.under(f"response {status}", "response")
            old_resp, _ = self.old.resolve(old[status])
            new_resp, _ = self.new.resolve(new[status])
            old_resp, new_resp = old_resp or {}, new_resp or {}
            self.documentation(
                ctx,
                _changed(old_resp, new_resp, ("description",)),
            )
            self._headers(old_resp.get("headers") or {}, new_resp.get("headers") or {}, ctx)
            self._content(old_resp.get("content") or {}, new_resp.get("content") or {}, ctx)

    def _headers(self, old: dict[str, Any], new: dict[str, Any], ctx: Ctx) -> None:
        for name in new.keys() | old.keys():
            here = ctx.under(f"{ctx.where} header {name}", "response")
            if name not in old:
                header, _ = self.new.resolve(new[name])
                required = bool((header or {}).get("required"))
                self.add(
                    here,
                    "header-added",
                    f"new {'required' if required else 'optional'} response header",
                    (False, required),
                )
            elif name not in new:
                self.add(here, "header-removed", "response header removed", (True, False))
            else:
                old_h, _ = self.old.resolve(old[name])
                new_h, _ = self.new.resolve(new[name])
                old_h, new_h = old_h or {}, new_h or {}
                if bool(old_h.get("required")) != bool(new_h.get("required")):
                    now = bool(new_h.get("required"))
                    self.effect(
                        here,
                        "header-required-changed",
                        f"now {'required' if now else 'optional'}",
                        Effect.NARROWER if now else Effect.WIDER,
                    )
                self.schema(old_h.get("schema", {}), new_h.get("schema", {}), here)
                self.documentation(
                    here,
                    _changed(old_h, new_h, ("description",)),
                )

    # -- the document ---------------------------------------------------------------------------

    def _document(self) -> None:
        old, new = self.old.raw, self.new.raw
        ctx = Ctx(None, None, "request", "servers", "")
        before = [s.get("url") for s in old.get("servers") or [] if isinstance(s, dict)]
        after = [s.get("url") for s in new.get("servers") or [] if isinstance(s, dict)]
        for url in [u for u in before if u not in after]:
            self.add(ctx, "server-removed", f"server {url} removed", (True, False))
        for url in [u for u in after if u not in before]:
            self.add(ctx, "server-added", f"server {url} added", (False, False))
        if before and after and before[0] != after[0] and before[0] in after:
            self.add(
                ctx,
                "server-default-changed",
                f"default server {before[0]} -> {after[0]}",
                (False, False),
                generated_client="sora2 clients default to the first server",
            )
        info_ctx = Ctx(None, None, "request", "info", "")
        old_info, new_info = old.get("info") or {}, new.get("info") or {}
        if old_info.get("version") != new_info.get("version"):
            self.add(
                info_ctx,
                "info-changed",
                f"version {show(old_info.get('version'))} -> {show(new_info.get('version'))}",
                (False, False),
                documentation_only=True,
            )
        self.documentation(
            info_ctx,
            sorted(
                k
                for k in old_info.keys() | new_info.keys()
                if k != "version" and old_info.get(k) != new_info.get(k)
            ),
            "info-changed",
        )
        if old.get("openapi") != new.get("openapi"):
            self.add(
                info_ctx,
                "info-changed",
                f"openapi {old.get('openapi')} -> {new.get('openapi')}",
                (False, False),
                documentation_only=True,
            )
        old_schemes = (old.get("components") or {}).get("securitySchemes") or {}
        new_schemes = (new.get("components") or {}).get("securitySchemes") or {}
        for name in sorted(old_schemes.keys() | new_schemes.keys()):
            here = Ctx(None, None, "request", f"security scheme {name}", "")
            a, _ = self.old.resolve(old_schemes.get(name))
            b, _ = self.new.resolve(new_schemes.get(name))
            if a is None:
                self.add(here, "security-scheme-added", "security scheme added", (False, False))
            elif b is None:
                self.add(here, "security-scheme-removed", "security scheme removed", (True, True))
            else:
                meaning = sorted(
                    k for k in a.keys() | b.keys() if k != "description" and a.get(k) != b.get(k)
                )
                if meaning:
                    self.add(
                        here,
                        "security-scheme-changed",
                        f"{', '.join(meaning)} changed",
                        (True, True),
                    )
                self.documentation(here, _changed(a, b, ("description",)))

    def _unused_components(self) -> None:
        """Component schemas no operation uses: only their generated models are at stake."""
        used = _used_schemas(self.old) | _used_schemas(self.new)
        old_all = (self.old.raw.get("components") or {}).get("schemas") or {}
        new_all = (self.new.raw.get("components") or {}).get("schemas") or {}
        for name in sorted((old_all.keys() | new_all.keys()) - used):
            ctx = Ctx(None, None, "unused", "schemas used by no operation", name)
            if name not in old_all:
                self.add(ctx, "component-added", "schema added", (False, False))
            elif name not in new_all:
                self.add(
                    ctx,
                    "component-removed",
                    "schema removed",
                    (True, False),
                    generated_client="its generated model disappears",
                )
            else:
                self.schema(old_all[name], new_all[name], ctx)


def _operations(document: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    """Operations by (method, path), with path-level parameters and global security merged in."""
    found: dict[tuple[str, str], dict[str, Any]] = {}
    global_security = document.get("security") or []
    for path, item in (document.get("paths") or {}).items():
        if not isinstance(item, dict):
            continue
        shared = list(item.get("parameters") or [])
        for method in METHODS:
            op = item.get(method)
            if not isinstance(op, dict):
                continue
            merged = dict(op)
            merged["_parameters"] = shared + list(op.get("parameters") or [])
            merged["_security"] = op.get("security", global_security) or []
            found[(method, path)] = merged
    return found


def _used_schemas(doc: Document) -> set[str]:
    """Names of the component schemas reachable from any operation."""
    names: set[str] = set()
    prefix = "#/components/schemas/"

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str):
                if ref.startswith(prefix):
                    name = ref[len(prefix) :]
                    if name in names:
                        return
                    names.add(name)
                walk(doc.pointer(ref))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(doc.raw.get("paths") or {})
    return names


_RESPONSE = re.compile(r"response (\S+)( .*|)")


def _merge_statuses(changes: list[Change]) -> list[Change]:
    """One change for a shared schema that several responses of an operation use (e.g. Error)."""
    groups: dict[tuple[Any, ...], list[tuple[str, Change]]] = {}
    for change in changes:
        found = _RESPONSE.fullmatch(change.where)
        status, rest = (found.group(1), found.group(2)) if found else ("", change.where)
        key = (bool(found), rest, *dataclasses.astuple(dataclasses.replace(change, where="")))
        groups.setdefault(key, []).append((status, change))
    merged: list[Change] = []
    for (is_response, rest, *_), members in groups.items():
        first = members[0][1]
        if is_response and len(members) > 1:
            statuses = ", ".join(status for status, _ in members)
            first = dataclasses.replace(first, where=f"responses {statuses}{rest}")
        merged.append(first)
    return merged


def compare_documents(old: dict[str, Any], new: dict[str, Any]) -> list[Change]:
    """Every change from ``old`` to ``new``, classified; empty when they mean the same."""
    return _Comparer(old, new).compare()
