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
import os
import re
import secrets
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path, PurePosixPath
from typing import Any, Final
from urllib.parse import urlsplit

import httpx

from ._exceptions import InvalidInputError
from ._types import OutputFile

__all__ = [
    "ALLOWED_CONTENT_TYPES",
    "FILE_KIND",
    "OUTPUT_KIND_KEY",
    "absolute_target",
    "allowed_content_types",
    "check_output_target",
    "file_suffix",
    "is_file_url",
    "kind_of",
    "names_directory",
    "names_files",
    "output_fields",
    "output_files",
    "output_kinds",
    "required_kind",
    "target_path",
    "target_paths",
    "type_suffix",
    "url_suffix",
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


# Where they are saved ---------------------------------------------------------------------

_DEFAULT_SUFFIX: Final = ".mp4"
_FILE_SUFFIX: Final = ".bin"
_KIND_SUFFIXES: Final = {"image": ".png", "video": ".mp4"}
"""The extension of a file whose URL has none, by kind (the emulator's formats)."""
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")
_O_BINARY: Final = getattr(os, "O_BINARY", 0)


def target_path(path: str | os.PathLike[str], url: str, request_id: str | None) -> Path:
    """The file to write: ``path`` itself, or a file named after the job inside a directory."""
    target = Path(path).expanduser()
    if names_directory(path):
        suffix = PurePosixPath(httpx.URL(url).path).suffix or _DEFAULT_SUFFIX
        stem = request_id or PurePosixPath(httpx.URL(url).path).stem or "video"
        target = target / (_SAFE_NAME.sub("_", stem) + _SAFE_NAME.sub("", suffix))
    return target.absolute()


def url_suffix(url: str) -> str:
    """The extension of a URL's path (``".png"``), or ``""`` when it has none."""
    suffix = _SAFE_NAME.sub("", PurePosixPath(httpx.URL(url).path).suffix)
    return suffix if len(suffix) > 1 else ""


def type_suffix(content_type: str) -> str:
    """The usual extension of a media type (``image/jpeg`` -> ``.jpg``), or ``""``."""

    media = content_type.split(";")[0].strip().lower()
    return _SAFE_NAME.sub("", mimetypes.guess_extension(media) or "") if media else ""


def names_files(path: str | os.PathLike[str], count: int) -> bool:
    """True when :func:`target_paths` makes up the file names (``path`` names a directory, or
    several files go beside it); False when ``path`` itself is the one file's name."""
    return count > 1 or names_directory(path)


def file_suffix(url: str, kind: str) -> str:
    """A file's extension before it is fetched: its URL's, else the usual one of its kind's
    media (``.png``...). A name made up from the kind is corrected by the answer's content
    type once it arrives (see ``Fetcher.fetch``)."""
    return url_suffix(url) or _KIND_SUFFIXES.get(kind, _FILE_SUFFIX)


def target_paths(
    path: str | os.PathLike[str], files: Sequence[OutputFile], request_id: str | None
) -> list[Path]:
    """Where each of a job's files goes; the naming rule of ``download`` and ``generate``.

    ``path`` names a directory when it is an existing one or ends with a path separator
    (``"dl/"``: created if missing). One file: ``path`` itself, or inside the directory as
    ``<request_id><ext>``. Several files: inside the directory as ``<request_id>-1<ext>``,
    ``<request_id>-2<ext>``...; otherwise beside ``path``, as ``<stem>-1<ext>``,
    ``<stem>-2<ext>``... Each ``<ext>`` is the file's own: its URL's, else the usual one of the
    content type it arrives with, else its kind's; the numbers follow ``JobResult.files``.
    """
    if len(files) == 1:
        only = files[0]
        target = Path(path).expanduser()
        if names_directory(path):
            stem = request_id or PurePosixPath(httpx.URL(only.url).path).stem or only.kind
            return [
                (target / (_SAFE_NAME.sub("_", stem) + file_suffix(only.url, only.kind))).absolute()
            ]
        return [target.absolute()]
    target = Path(path).expanduser()
    if names_directory(path):
        directory, stem = target, _SAFE_NAME.sub("_", request_id or "output")
    else:
        directory, stem = target.parent, target.stem
    return [
        (directory / f"{stem}-{index}{file_suffix(item.url, item.kind)}").absolute()
        for index, item in enumerate(files, start=1)
    ]


def names_directory(path: str | os.PathLike[str]) -> bool:
    """True when ``path`` means "inside this folder": an existing directory, or a path that
    ends with a separator (``"dl/"``), which need not exist yet."""
    raw = os.fspath(path)
    return raw.endswith((os.sep, "/")) or Path(raw).expanduser().is_dir()


def absolute_target(path: str | os.PathLike[str]) -> str:
    """``path`` made absolute, keeping a trailing separator (it says "a directory")."""
    raw = os.fspath(path)
    absolute = str(Path(raw).expanduser().absolute())
    if raw.endswith((os.sep, "/")) and not absolute.endswith(os.sep):
        absolute += os.sep
    return absolute


def check_output_target(out: str | os.PathLike[str]) -> None:
    """Refuse, before anything is paid for, an output path the video could not be saved at.

    ``out`` must be an existing writable directory (the file is named inside it), or a file
    path whose directory exists or can be created, and is writable. The directory is created
    and a probe file written and removed: permission bits say nothing for root, a read-only
    file system or ``/proc``; a folder that took one is not probed again for
    ``_PROBE_SECONDS`` (a thousand concurrent jobs saving in one folder: one probe).
    Raises ``InvalidInputError(field="out")``.
    """
    try:
        target = Path(out).expanduser().absolute()
    except (TypeError, ValueError, RuntimeError) as exc:
        raise InvalidInputError(f"out: not a usable path: {exc}", field="out", value=out) from None
    if "\x00" in str(target):
        raise _bad_out(out, "the path contains a NUL character")
    wants_directory = str(out).endswith(("/", os.sep))
    if target.exists() and not target.is_dir():
        if wants_directory:
            raise _bad_out(out, f"{target} is a file, not a directory")
        if not target.is_file():
            raise _bad_out(out, f"{target} is not a regular file")
    directory = target if wants_directory or target.is_dir() else target.parent
    for ancestor in (directory, *directory.parents):
        if ancestor.exists():
            if not ancestor.is_dir():
                raise _bad_out(out, f"{ancestor} is not a directory")
            break
    if time.monotonic() - _probed.get(directory, -_PROBE_SECONDS) < _PROBE_SECONDS:
        return  # proven writable a moment ago
    try:
        directory.mkdir(parents=True, exist_ok=True)
        probe = directory / f".sora2-probe.{secrets.token_hex(6)}.part"
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_BINARY, 0o600)
        os.close(fd)
        probe.unlink()
    except (OSError, ValueError) as exc:
        reason = (exc.strerror if isinstance(exc, OSError) else None) or str(exc)
        raise _bad_out(out, f"cannot write in {directory}: {reason}") from None
    if len(_probed) >= 256:
        _probed.clear()
    _probed[directory] = time.monotonic()


_PROBE_SECONDS: Final = 10.0
"""How long a folder that took a probe file counts as writable without another probe."""
_probed: dict[Path, float] = {}


def _bad_out(out: str | os.PathLike[str], reason: str) -> InvalidInputError:
    return InvalidInputError(
        f"out: {reason}; nothing was submitted (choose a writable file or directory)",
        field="out",
        value=str(out),
    )


ALLOWED_CONTENT_TYPES: Final = ("video/", "application/octet-stream")


def allowed_content_types(kind: str | None) -> tuple[str, ...]:
    """The media types a file of ``kind`` may arrive as: its own (``image/*``...) or bytes.

    None (a bare URL of unknown kind) keeps the historical rule: a video or bytes. A ``file``
    of unknown kind may be anything.
    """
    if kind is None:
        return ALLOWED_CONTENT_TYPES
    if kind == FILE_KIND:
        return ("",)
    return (f"{kind}/", "application/octet-stream")


def required_kind(item: OutputFile) -> str | None:
    """The kind a file must be: a bare URL of unknown kind keeps the old rule (a video or
    bytes), not "anything"."""
    return None if not item.field and item.kind == FILE_KIND else item.kind
