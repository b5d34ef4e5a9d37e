"""Checking the parts of one exchange against its operation: parameters, security, bodies.

``Contract`` (``sora2.contract._contract``) finds the operation an exchange is; the checks
here say what in its request and its response breaks the spec.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

import httpx

from .._spec import escape_pointer
from ._auth import security_problem
from ._operations import Header, Media, OperationSpec, Param, coerce, find_media, media_type
from ._schemas import SchemaCompiler
from ._violations import Side, Violation, one_line

if TYPE_CHECKING:
    from ._contract import Match

__all__ = ["PartChecks"]


class PartChecks:
    """The checks of a request's and a response's parts, on ``Contract``'s compiled schemas."""

    _schemas: SchemaCompiler

    def request_parts_violations(
        self, found: Match, headers: httpx.Headers, content: bytes, query: str = ""
    ) -> list[Violation]:
        """The request side, from its parts: headers, body bytes and raw query string."""
        spec = found.spec
        op_id = spec.operation_id
        violations: list[Violation] = []
        if spec.params:
            self._check_params(spec, found, headers, query, violations)
        if spec.security:
            problem = security_problem(spec.security, headers, query)
            if problem is not None:
                pointer, message = problem
                violations.append(Violation(pointer, "auth", message, "request", op_id))
        if spec.body_media is not None:
            if not content:
                if spec.body_required:
                    violations.append(
                        Violation(
                            "/body", "required", "a request body is required", "request", op_id
                        )
                    )
            else:
                violations.extend(
                    self._body_violations(
                        spec.body_media,
                        headers.get("content-type"),
                        content,
                        "request",
                        op_id,
                        None,
                        what="request",
                    )
                )
        return violations

    def response_parts_violations(
        self,
        found: Match,
        status: int,
        headers: httpx.Headers,
        content: bytes | None,
    ) -> list[Violation]:
        """The response side from its parts; ``content`` is decoded, None if not recorded."""
        spec = found.spec
        op_id = spec.operation_id
        documented = (
            spec.responses.get(str(status))
            or spec.responses.get(f"{status // 100}XX")
            or spec.responses.get("DEFAULT")
        )
        if documented is None:
            return [
                Violation(
                    "/status",
                    "status",
                    f"status {status} is not documented for {op_id or spec.template} "
                    f"(documented: {spec.documented_statuses()})",
                    "response",
                    op_id,
                    status,
                )
            ]
        violations: list[Violation] = []
        for header in documented.headers:
            value = headers.get(header.name)
            violations.extend(
                self._value_violations(
                    header,
                    value,
                    f"/headers/{escape_pointer(header.name.lower())}",
                    f"header {header.name} is required with status {status}",
                    "response",
                    op_id,
                    status,
                )
            )
        if content is None:
            return violations
        if not documented.media:
            if content:
                violations.append(
                    Violation(
                        "/body",
                        "content",
                        f"status {status} documents no body, got {len(content)} bytes",
                        "response",
                        op_id,
                        status,
                    )
                )
            return violations
        violations.extend(
            self._body_violations(
                documented.media,
                headers.get("content-type"),
                content,
                "response",
                op_id,
                status,
                what=f"status {status}",
            )
        )
        return violations

    def _check_params(
        self,
        spec: OperationSpec,
        found: Match,
        headers: httpx.Headers,
        query: str,
        violations: list[Violation],
    ) -> None:
        parsed_query: dict[str, list[str]] | None = None
        for param in spec.params:
            value: str | None
            if param.where == "path":
                value = found.path_params.get(param.name)
            elif param.where == "query":
                if parsed_query is None:
                    parsed_query = parse_qs(query, keep_blank_values=True)
                values = parsed_query.get(param.name)
                value = values[0] if values else None
            elif param.where == "header":
                value = headers.get(param.name)
            else:
                continue  # cookies: not checked
            where = "headers" if param.where == "header" else param.where
            name = param.name.lower() if param.where == "header" else param.name
            violations.extend(
                self._value_violations(
                    param,
                    value,
                    f"/{where}/{escape_pointer(name)}",
                    f"{param.where} parameter {param.name} is required",
                    "request",
                    spec.operation_id,
                    None,
                )
            )

    def _value_violations(
        self,
        documented: Param | Header,
        value: str | None,
        pointer: str,
        missing: str,
        side: Side,
        op_id: str | None,
        status: int | None,
    ) -> list[Violation]:
        """A parameter's or header's value against its schema; ``missing`` when it is absent
        but required."""
        if value is None:
            if not documented.required:
                return []
            return [Violation(pointer, "required", missing, side, op_id, status)]
        return self._schemas.check(
            documented.location,
            documented.schema,
            coerce(value, documented.schema),
            prefix=pointer,
            side=side,
            operation_id=op_id,
            status=status,
        )

    def _body_violations(
        self,
        media: tuple[Media, ...],
        content_type: str | None,
        content: bytes,
        side: Side,
        op_id: str | None,
        status: int | None,
        *,
        what: str,
    ) -> list[Violation]:
        found_type = media_type(content_type)
        expected = ", ".join(m.media_type for m in media)
        chosen = find_media(media, found_type) if found_type else None
        if chosen is None:
            message = (
                f"Content-Type {found_type} is not documented for the {what} (expected {expected})"
                if found_type
                else f"Content-Type is missing (expected {expected})"
            )
            return [
                Violation("/headers/content-type", "content-type", message, side, op_id, status)
            ]
        if not chosen.is_json or chosen.schema is None:
            return []
        try:
            instance = json.loads(content, parse_constant=_refuse_constant)
        except ValueError as exc:
            return [
                Violation(
                    "/body", "json", one_line(f"body is not valid JSON: {exc}"), side, op_id, status
                )
            ]
        return self._schemas.check(
            chosen.location,
            chosen.schema,
            instance,
            prefix="/body",
            side=side,
            operation_id=op_id,
            status=status,
        )


def _refuse_constant(name: str) -> Any:
    """``NaN`` and ``Infinity`` are not JSON (RFC 8259), though Python's parser takes them."""
    raise ValueError(f"{name} is not valid JSON")
