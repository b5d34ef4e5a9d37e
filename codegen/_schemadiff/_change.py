"""What a change is: its kind (the table of every kind), its effect, and who it breaks."""

from __future__ import annotations

import enum
import json
from dataclasses import asdict, dataclass
from typing import Any, Literal

__all__ = ["KINDS", "Change", "Effect", "Side", "breaks_of", "show"]

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


def breaks_of(side: Side, effect: Effect) -> tuple[bool, bool]:
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
