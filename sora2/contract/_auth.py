"""Whether a request carries the credentials its operation's ``security`` asks for.

Only presence and form are checked (``Authorization: Bearer <non-empty>``); messages name the
header, never its value.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import parse_qs

import httpx

from .._spec import escape_pointer
from ._operations import SecurityRule

__all__ = ["security_problem"]


def security_problem(
    rules: Sequence[SecurityRule], headers: httpx.Headers, query: str
) -> tuple[str, str] | None:
    """None when some alternative is satisfied, else the first problem (never the secret)."""
    first: tuple[str, str] | None = None
    for rule in rules:
        problem = None
        for name, scheme in rule.schemes:
            problem = _scheme_problem(name, scheme, headers, query)
            if problem is not None:
                break
        if problem is None:
            return None
        first = first or problem
    return first


def _scheme_problem(
    name: str, scheme: dict[str, Any], headers: httpx.Headers, query: str
) -> tuple[str, str] | None:
    kind = scheme.get("type")
    if kind == "http":
        expected = str(scheme.get("scheme", "bearer")).lower()
        value = headers.get("authorization")
        pointer = "/headers/authorization"
        label = expected.capitalize()
        if value is None:
            return pointer, f"Authorization header is missing (expected {label} credentials)"
        given, _, credentials = value.strip().partition(" ")
        if given.lower() != expected:
            return pointer, f"Authorization must use the {label} scheme"
        if not credentials.strip():
            return pointer, f"Authorization has an empty {label} token"
        return None
    if kind == "apiKey":
        where, key = scheme.get("in"), str(scheme.get("name", ""))
        if where == "header":
            if headers.get(key):
                return None
            return f"/headers/{escape_pointer(key.lower())}", f"header {key} is missing"
        if where == "query":
            if parse_qs(query).get(key):
                return None
            return f"/query/{escape_pointer(key)}", f"query parameter {key} is missing"
        if where == "cookie":
            cookies = headers.get("cookie", "")
            if any(part.strip().startswith(key + "=") for part in cookies.split(";")):
                return None
            return "/headers/cookie", f"cookie {key} is missing"
    return None  # oauth2, openIdConnect, mutualTLS: not visible in one exchange
