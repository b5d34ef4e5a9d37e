"""File inputs (``input_reference``, ...): hosted URLs, checked before a job is paid for.

Which inputs are files is read from the spec, not from their names: a property of a model's
input schema that refers to a ``Hosted<Kind>Url`` schema is a hosted file of that kind. The API
takes no upload, so a local path or a plain ``http://`` URL is refused with a message saying so
(before the schema's own check, whose words would be vaguer). Then, before paying, the URL is
asked what a fetcher would ask (``sora2.check_hosted_file``: a HEAD, or a one-byte GET): a host
that answers "no" (a login, a 404, a file over the kind's limit, a type that is not the kind)
refuses the job; a host that cannot be reached from here is logged and the job goes on, since
the service fetches from elsewhere.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from typing import Any

import httpx

from ._exceptions import InvalidInputError
from ._logging import logger

__all__ = ["check_file_inputs", "hosted_inputs", "refuse_local_files"]

_HOSTED_REF = re.compile(r"#/components/schemas/Hosted(?P<kind>[A-Z][a-z]+)Url")
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_NEUTRAL_TYPES = ("application/octet-stream", "binary/octet-stream")


def _kind_of(node: Any) -> str | None:
    """The hosted-file kind a schema refers to, through ``$ref`` and ``allOf``, if any."""
    if isinstance(node, list):
        return next((k for k in map(_kind_of, node) if k is not None), None)
    if not isinstance(node, dict):
        return None
    ref = node.get("$ref")
    if isinstance(ref, str):
        found = _HOSTED_REF.fullmatch(ref)
        if found:
            return found.group("kind").lower()
        from ._spec import lookup

        try:
            return _kind_of(lookup(ref))
        except LookupError:
            return None
    return next(
        (k for key in ("allOf", "anyOf", "oneOf") if (k := _kind_of(node.get(key))) is not None),
        None,
    )


@functools.cache
def hosted_inputs(model: str | None = None) -> dict[str, str]:
    """``{input name: hosted-file kind}`` of a model's input schema (None: the default model)."""
    from ._spec import input_schema

    properties = input_schema(model).get("properties") or {}
    return {name: kind for name, raw in properties.items() if (kind := _kind_of(raw)) is not None}


def refuse_local_files(values: Mapping[str, Any], model: str) -> None:
    """Refuse a hosted-file input given as a local path or a non-https URL, naming it.

    Raises:
        InvalidInputError: naming the input; nothing was sent.
    """
    for name, kind in hosted_inputs(model).items():
        value = values.get(name)
        if not isinstance(value, str):
            continue
        if not _SCHEME.match(value):
            raise InvalidInputError(
                f"{name}={value!r} looks like a local path: the API takes hosted files only, "
                f"as a publicly reachable HTTPS URL of the {kind} (https://...); upload it "
                "(object storage, a CDN) and pass its URL",
                field=name,
                value=value,
            )
        if not value.lower().startswith("https://"):
            raise InvalidInputError(
                f"{name}={value!r} is not allowed: the service fetches files from HTTPS URLs "
                "only (https://...)",
                field=name,
                value=value,
            )


def check_file_inputs(
    body: Mapping[str, Any], model: str, *, transport: httpx.BaseTransport | None = None
) -> None:
    """Ask each hosted-file input's host, as a fetcher would, before the job is paid for.

    Raises:
        InvalidInputError: the host answered and the file breaks a rule (login needed, not
            found, over the kind's size limit, not of the kind's type).
    """
    from ._hosted import check_hosted_file

    for name, kind in hosted_inputs(model).items():
        url = body.get(name)
        if not isinstance(url, str):
            continue
        verdict = check_hosted_file(url, kind, transport=transport)
        if verdict.ok:
            media = (verdict.content_type or "").split(";")[0].strip().lower()
            if media and not media.startswith(f"{kind}/") and media not in _NEUTRAL_TYPES:
                article = "an" if kind[:1] in "aeiou" else "a"
                raise InvalidInputError(
                    f"{name}={url!r} is not allowed: its host says it is {media}, not "
                    f"{article} {kind}",
                    field=name,
                    value=url,
                )
            logger.debug("%s: %s", name, verdict.message)
            continue
        if verdict.failed_rule == "reachable" and verdict.status_code is None:
            logger.warning(
                "%s: could not check %s from here (%s); sending it anyway",
                name,
                url,
                verdict.message,
            )
            continue
        raise InvalidInputError(
            f"{name}={url!r} is not allowed: {verdict.message}", field=name, value=url
        )
