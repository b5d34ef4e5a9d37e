"""Which output fields a completed emulated job fills, and the files behind their URLs.

The shape is a list of the spec's documented output fields (``video``, ``images``, ...): each
string field gets one URL, each array field ``OUTPUT_LIST_LENGTH`` URLs. What a URL serves
follows the field's ``x-output-kind`` in the spec: a real PNG for an image, a real MP4 for a
video, at the job's requested size (and length, for a video). A field of any other kind (one
without ``x-output-kind``, as a field synced from upstream arrives, or a kind the emulator
cannot render) is served too, as bytes (``.bin``, ``application/octet-stream``): every
documented field can be a shape, so a new one never breaks a test that asks for all of them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

from .._exceptions import InvalidInputError
from .._spec import resolve, spec_document
from .._types import output_fields
from ._constants import OUTPUT_LIST_LENGTH

__all__ = [
    "MEDIA",
    "OTHER_MEDIA",
    "describe",
    "field_is_list",
    "media_of",
    "output_names",
    "parse_outputs",
]

MEDIA: Final = {"image": ("png", "image/png"), "video": ("mp4", "video/mp4")}
"""What the emulator can render, per output kind: the file extension and media type."""
OTHER_MEDIA: Final = ("bin", "application/octet-stream")
"""What a field of any other kind serves: bytes of no particular type."""


def media_of(kind: str) -> tuple[str, str]:
    """The file extension and media type the emulator serves a field of ``kind`` as."""
    return MEDIA.get(kind, OTHER_MEDIA)


def field_is_list(name: str) -> bool:
    """True for an output field the spec types as an array of URLs."""
    result = resolve(spec_document()["components"]["schemas"]["RequestResult"])
    schema = resolve(result.get("properties", {}).get("output", {}))
    prop = resolve((schema.get("properties") or {}).get(name, {}))
    return isinstance(prop, dict) and prop.get("type") == "array"


def output_names(name: str, kind: str) -> list[str]:
    """The file names of field ``name``: ``video.mp4``, or ``images-1.png``, ``images-2.png``."""
    extension = media_of(kind)[0]
    if not field_is_list(name):
        return [f"{name}.{extension}"]
    return [f"{name}-{index}.{extension}" for index in range(1, OUTPUT_LIST_LENGTH + 1)]


def parse_outputs(value: str | Sequence[str]) -> tuple[tuple[str, str], ...]:
    """``(field, kind)`` of each field named in ``value`` (``"image,videos"`` or a list).

    Raises:
        InvalidInputError: a name is not a documented output field, or none is given.
    """
    names = value.split(",") if isinstance(value, str) else list(value)
    names = [name.strip() for name in names if name.strip()]
    kinds = dict(output_fields())
    allowed = tuple(kinds)
    if not names:
        raise InvalidInputError(
            f"outputs must name at least one output field; allowed values: {', '.join(allowed)}",
            field="outputs",
            value=value,
            allowed=allowed,
        )
    chosen: list[tuple[str, str]] = []
    for name in names:
        if name not in kinds:
            raise InvalidInputError(
                f"outputs: {name!r} is not an output field the emulator serves; "
                f"allowed values: {', '.join(allowed)}",
                field="outputs",
                value=name,
                allowed=allowed,
            )
        if (name, kinds[name]) not in chosen:
            chosen.append((name, kinds[name]))
    return tuple(chosen)


def describe(shape: Sequence[tuple[str, Any]]) -> str:
    return ",".join(name for name, _ in shape)
