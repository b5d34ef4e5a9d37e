"""A preflight for file inputs: would the service be able to fetch this URL?

The documentation's rules for hosted files: a publicly reachable HTTPS URL, fetchable by a
server without login or cookies, within a size limit that depends on the kind of file. The
kinds and limits are read from the spec (:func:`hosted_file_limits`: the
``Hosted<Kind>Url`` schemas and their ``x-max-bytes``), so a new kind in the spec is checked
without a code change.

The check asks the way a fetcher would, with no credentials at all: a HEAD, and a one-byte
ranged GET when the host does not answer HEAD usefully. The URL is the user's to choose, but a
redirect is the host's: no hop after the first may lead to plain http or to a non-public
address (loopback, private, link-local...), whether written in the URL or resolved from its
name (``sora2._guarded`` checks each address before connecting).

Before a job is paid for, :func:`check_file_inputs` asks this of each hosted-file input of its
body: a host that answers "no" (a login, a 404, a file over the kind's limit, a type that is
not the kind) refuses the job; a host that cannot be reached from here is logged and the job
goes on, since the service fetches from elsewhere.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal

import httpx

from ._exceptions import DownloadError, InvalidInputError
from ._inputs import HOSTED_SCHEMA, hosted_inputs
from ._options import MAX_DOWNLOAD_REDIRECTS
from ._spec import spec_document
from ._transports import IPAddress, is_special_address, logger

__all__ = [
    "HostedFileVerdict",
    "Rule",
    "check_file_inputs",
    "check_hosted_file",
    "hosted_file_limits",
]

Rule = Literal["https", "reachable", "public", "size"]
_DEFAULT_TIMEOUT: Final = 10.0
_CONTENT_RANGE = re.compile(r"bytes\s+\d+-\d+/(?P<total>\d+)")
_NEUTRAL_TYPES = ("application/octet-stream", "binary/octet-stream")


@functools.cache
def hosted_file_limits() -> dict[str, int]:
    """``{kind: max bytes}`` for every hosted-file kind of the spec (e.g. image, video)."""
    limits: dict[str, int] = {}
    for name, schema in spec_document()["components"]["schemas"].items():
        found = HOSTED_SCHEMA.fullmatch(name)
        limit = schema.get("x-max-bytes") if isinstance(schema, dict) else None
        if found and isinstance(limit, int):
            limits[found.group("kind").lower()] = limit
    return limits


@dataclass(frozen=True)
class HostedFileVerdict:
    """The outcome: ``ok``, or the first rule that failed and why."""

    url: str
    kind: str
    failed_rule: Rule | None
    message: str
    status_code: int | None = None
    size: int | None = None
    """The file's size in bytes, when the host said (None if it did not)."""
    content_type: str | None = None
    max_bytes: int | None = None

    @property
    def ok(self) -> bool:
        return self.failed_rule is None

    def __bool__(self) -> bool:
        return self.ok


def _size_of(response: httpx.Response) -> int | None:
    if response.status_code == 206:
        found = _CONTENT_RANGE.fullmatch(response.headers.get("content-range", "").strip())
        return int(found.group("total")) if found else None
    length = response.headers.get("content-length")
    return int(length) if length is not None and length.isdigit() else None


class _Refused(Exception):
    """A redirect the check does not follow, and the rule it breaks."""

    def __init__(self, rule: Rule, message: str) -> None:
        super().__init__(message)
        self.rule: Rule = rule


def _check_hop(url: httpx.URL, first_host: str) -> None:
    """A redirect's target: https, and not a non-public address (but the user's own host)."""
    if url.scheme != "https":
        raise _Refused("https", f"it redirects to a non-https URL ({url.scheme})")
    host = url.host.lower()
    try:
        literal: IPAddress | None = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    if literal is not None and host != first_host and is_special_address(literal):
        raise _Refused("reachable", f"it redirects to a non-public address ({host})")


def _open(
    client: httpx.Client, method: str, url: str, headers: dict[str, str] | None = None
) -> httpx.Response:
    """The streamed answer, following redirects only where :func:`_check_hop` allows."""
    request = client.build_request(method, url, headers=headers)
    first_host = request.url.host.lower()
    for _ in range(MAX_DOWNLOAD_REDIRECTS + 1):
        try:
            response = client.send(request, stream=True)
        except DownloadError as exc:  # the transport refused a resolved address
            raise _Refused("reachable", f"it redirects to a non-public address ({exc})") from None
        if response.next_request is None:
            return response
        response.close()
        request = response.next_request
        _check_hop(request.url, first_host)
    raise httpx.TooManyRedirects("too many redirects", request=request)


def _probe(client: httpx.Client, url: str) -> httpx.Response:
    """HEAD, then a one-byte ranged GET if HEAD is refused or says nothing about the size."""
    head = _open(client, "HEAD", url)
    head.close()
    if head.is_success and _size_of(head) is not None:
        return head
    response = _open(client, "GET", url, headers={"Range": "bytes=0-0"})
    try:
        # Read at most a little: a host that ignores Range would send the whole file.
        for _ in response.iter_bytes(1024):
            break
    finally:
        response.close()
    return response


def _own_host_only(first_host: str) -> Callable[[str, int, IPAddress], bool]:
    """Addresses a connection may reach: any for the user's own host, public ones elsewhere."""

    def allows(host: str, port: int, address: IPAddress) -> bool:
        return host.lower() == first_host or not is_special_address(address)

    return allows


def check_hosted_file(
    url: str,
    kind: str,
    *,
    timeout: float = _DEFAULT_TIMEOUT,
    transport: httpx.BaseTransport | None = None,
) -> HostedFileVerdict:
    """Check ``url`` against the documented rules for a hosted ``kind`` file.

    Raises:
        InvalidInputError: ``kind`` is not one the spec defines.
    """
    limits = hosted_file_limits()
    if kind not in limits:
        raise InvalidInputError(
            f"kind={kind!r} is not a hosted file kind; allowed values: "
            + ", ".join(repr(k) for k in limits),
            field="kind",
            value=kind,
            allowed=tuple(limits),
        )
    limit = limits[kind]

    def verdict(
        rule: Rule | None,
        message: str,
        *,
        status_code: int | None = None,
        size: int | None = None,
        content_type: str | None = None,
    ) -> HostedFileVerdict:
        return HostedFileVerdict(
            url, kind, rule, message, status_code, size, content_type, max_bytes=limit
        )

    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError) as exc:
        return verdict("https", f"not a valid URL: {exc}")
    if parsed.scheme != "https" or not parsed.host:
        return verdict("https", "the service only fetches https:// URLs")
    if transport is None:
        from ._guarded import GuardedTransport

        transport = GuardedTransport(_own_host_only(parsed.host.lower()), limits=httpx.Limits())
    try:
        # No auth, no cookies, redirects followed (checked): what a server-side fetcher sees.
        with httpx.Client(timeout=timeout, transport=transport, trust_env=False) as client:
            response = _probe(client, url)
    except _Refused as refused:
        return verdict(refused.rule, str(refused))
    except httpx.HTTPError as exc:
        return verdict("reachable", f"could not fetch it: {exc or type(exc).__name__}")
    status = response.status_code
    content_type = response.headers.get("content-type")
    if status in (401, 403, 407):
        return verdict(
            "public",
            f"the host answered {status}: it needs a login, cookies or a signature",
            status_code=status,
        )
    if not response.is_success:
        return verdict("reachable", f"the host answered {status}", status_code=status)
    size = _size_of(response)
    if size is not None and size > limit:
        message = f"{size} bytes is over the {limit}-byte limit for {kind}"
        return verdict("size", message, status_code=status, size=size, content_type=content_type)
    known = f"{size} bytes" if size is not None else "size not given by the host"
    return verdict(
        None,
        f"fetchable without credentials ({known})",
        status_code=status,
        size=size,
        content_type=content_type,
    )


def check_file_inputs(
    body: Mapping[str, Any], model: str, *, transport: httpx.BaseTransport | None = None
) -> None:
    """Ask each hosted-file input's host, as a fetcher would, before the job is paid for.

    Raises:
        InvalidInputError: the host answered and the file breaks a rule (login needed, not
            found, over the kind's size limit, not of the kind's type).
    """
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
