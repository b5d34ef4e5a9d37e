"""A completed job's output files, read the way the spec describes them.

The spec's ``Output`` object lists the output fields in order, each a URL or a list of URLs,
and says what each points at with ``x-output-kind`` (``image``, ``video``); a documented field
without it gets the kind its name or description names (rule 1 below). A field the spec does
not know yet still yields files when its value is an absolute http(s) URL or a list of
them, so a new output works before the spec is updated. Its kind is guessed, in this order:

1. a kind the spec uses appears as a word of the field's name (``thumbnail_image`` -> image,
   ``clips_videos`` -> video; a trailing ``s`` is dropped);
2. the media type of the URL's file extension (``.png`` -> ``image/png`` -> image), when that
   is a kind the spec uses;
3. otherwise ``"file"``.
"""

from __future__ import annotations

import functools
import mimetypes
import re
from collections.abc import Iterator, Mapping
from pathlib import PurePosixPath
from typing import Any, Final
from urllib.parse import urlsplit

from ._types import OutputFile

__all__ = [
    "FILE_KIND",
    "OUTPUT_KIND_KEY",
    "is_file_url",
    "kind_of",
    "output_fields",
    "output_files",
    "output_kinds",
]

FILE_KIND: Final = "file"
"""The kind of an output file whose kind neither the spec nor its name or URL tells."""
OUTPUT_KIND_KEY: Final = "x-output-kind"
_WORDS = re.compile(r"[a-z0-9]+")


@functools.cache
def _documented() -> tuple[tuple[str, str | None, str], ...]:
    """``(field, x-output-kind or None, description)`` of each documented output field."""
    from ._spec import resolve, spec_document

    result = resolve(spec_document()["components"]["schemas"]["RequestResult"])
    schema = resolve(result.get("properties", {}).get("output", {}))
    found: list[tuple[str, str | None, str]] = []
    for name, prop in (schema.get("properties") or {}).items():
        prop = resolve(prop) if isinstance(prop, dict) else {}
        items = resolve(prop.get("items", {}))
        kind = prop.get(OUTPUT_KIND_KEY) or (
            items.get(OUTPUT_KIND_KEY) if isinstance(items, dict) else None
        )
        found.append((str(name), str(kind) if kind else None, str(prop.get("description", ""))))
    return tuple(found)


@functools.cache
def output_kinds() -> frozenset[str]:
    """The kinds the spec's output fields declare with ``x-output-kind`` (image, video...)."""
    return frozenset(kind for _, kind, _ in _documented() if kind)


@functools.cache
def output_fields() -> tuple[tuple[str, str], ...]:
    """``(field, kind)`` of every documented output field, in spec order.

    A documented field without ``x-output-kind`` gets the kind its name, else its description,
    names (as for an undocumented field), else ``"file"``.
    """
    fields: list[tuple[str, str]] = []
    for name, kind, description in _documented():
        if kind is None:
            kind = _kind_in_words(name) or _kind_in_words(description) or FILE_KIND
        fields.append((name, kind))
    return tuple(fields)


def _kind_in_words(text: str) -> str | None:
    """The first kind the spec uses that is a word of ``text`` (singular or plural)."""
    kinds = output_kinds()
    for word in _WORDS.findall(text.lower()):
        for candidate in (word, word[:-1] if word.endswith("s") else word):
            if candidate in kinds:
                return str(candidate)
    return None


_SPACE = re.compile(r"\s")
r"""Any whitespace: ``\s`` on a str is ``str.isspace``, in C rather than a loop per character."""


def is_file_url(value: object) -> bool:
    """True for an absolute http(s) URL with a host: what an output file's address looks like."""
    if not isinstance(value, str) or not value or _SPACE.search(value):
        return False
    try:
        parts = urlsplit(value)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def kind_of(field: str, url: str) -> str:
    """The kind of a file from a field the spec does not document (see the module docstring)."""
    kinds = output_kinds()
    named = _kind_in_words(field)
    if named is not None:
        return named
    guessed, _ = mimetypes.guess_type(PurePosixPath(urlsplit(url).path).name)
    if guessed is not None:
        major = guessed.split("/", 1)[0]
        if major in kinds:
            return major
    return FILE_KIND


def _urls(value: Any) -> Iterator[str]:
    """The URLs of a field's value: a URL, or a list of them (anything else: none)."""
    if isinstance(value, str):
        if is_file_url(value):
            yield value
    elif isinstance(value, list) and value and all(is_file_url(item) for item in value):
        yield from value


def output_files(outputs: Mapping[str, Any]) -> tuple[OutputFile, ...]:
    """Every file of an ``output`` object: documented fields first, in spec order, then any
    other URL-valued field in the order received. A URL seen before is not repeated."""
    documented = dict(output_fields())
    order = [name for name in documented if name in outputs]
    order += [name for name in outputs if name not in documented]
    seen: set[str] = set()
    files: list[OutputFile] = []
    for name in order:
        for url in _urls(outputs[name]):
            if url in seen:
                continue
            seen.add(url)
            kind = documented.get(name) or kind_of(name, url)
            files.append(OutputFile(url=url, kind=kind, field=name))
    return tuple(files)
