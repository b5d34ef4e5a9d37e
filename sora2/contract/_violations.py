"""One way an HTTP exchange breaks the spec, small and plain so reports and JSON stay simple.

Kept free of heavy imports: ``sora2._exceptions`` names it, and the pytest plugin prints it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any, Literal

__all__ = ["Side", "Violation", "format_violations"]

Side = Literal["request", "response"]

MAX_MESSAGE = 200


@dataclass(frozen=True, slots=True)
class Violation:
    """One problem with one side of an exchange.

    Attributes:
        pointer: JSON pointer into the exchange: ``/body/size``, ``/headers/authorization``,
            ``/path/request_id``, ``/query/name``, ``/status``, ``/method``.
        rule: The JSON Schema keyword that failed (``enum``, ``required``, ``type``...) or the
            name of an HTTP-level rule (``status``, ``content-type``, ``auth``, ``json``...).
        message: One line, never the API token.
        side: ``"request"`` or ``"response"``.
        operation_id: The spec's operationId when the URL matched an operation.
        status: The response's status code, for response-side problems.
    """

    pointer: str
    rule: str
    message: str
    side: Side
    operation_id: str | None = None
    status: int | None = None

    def __str__(self) -> str:
        return f"{self.side} {self.pointer or '/'}: {self.message} [{self.rule}]"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict with every field."""
        return asdict(self)


def one_line(message: str, limit: int = MAX_MESSAGE) -> str:
    """Collapse whitespace and cap the length, so a huge instance never floods a report."""
    text = " ".join(message.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def format_violations(violations: Iterable[Violation], *, indent: str = "  ") -> str:
    """Violations one per line, for test failures and terminal reports."""
    return "\n".join(f"{indent}{violation}" for violation in violations)
