"""The spec, compiled for checking: which operation a URL is, and what each side must look like.

Everything that can be worked out ahead of time (path regexes, parameter lists, the security
rule, the documented statuses and media types) is, once per document; schemas are compiled
on first use. ``check_request`` and ``check_response`` then do little more than a regex
match, one ``json.loads`` and one validator call per body.

Matching: the host is ignored and the path's *suffix* is matched against the templates, so the
API may live under a prefix (``https://proxy.example/runcomfy/v1/requests/{id}/status`` is
``status``). A path that matches a template with an undocumented method is flagged. A path that
matches no template is flagged when it goes to the API itself: a host of the spec's ``servers``
(or of ``api_urls``), under the API's namespace (the leading path segments every path of the
spec shares, ``/v1/`` here), as a stale client calling a removed model path would. Any other
URL (a CDN, a file download, the emulator's ``/emulator/outputs/``) is not an API call and is
skipped.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

import httpx

from ._exchanges import Exchange
from ._operations import OperationSpec, compile_operations
from ._parts import PartChecks
from ._schemas import SchemaCompiler
from ._violations import Violation

__all__ = [
    "Contract",
    "Match",
    "check_exchange",
    "check_request",
    "check_response",
    "load_contract",
    "split_target",
]


@dataclass(frozen=True, slots=True)
class Match:
    """A request recognised as an operation of the spec."""

    operation_id: str | None
    method: str
    template: str
    path_params: dict[str, str]
    spec: OperationSpec = field(repr=False, compare=False)


class Contract(PartChecks):
    """An OpenAPI 3.1 document compiled for checking httpx requests and responses.

    Args:
        document: The OpenAPI document.
        api_urls: Base URLs that also serve the API (a proxy, a local emulator), besides the
            document's ``servers``; a call to one of them on a path the spec does not have is
            flagged (see the module docstring).
    """

    def __init__(self, document: Mapping[str, Any], *, api_urls: Iterable[str] = ()) -> None:
        self.document = document
        self._schemas = SchemaCompiler(document)
        self._all = compile_operations(document, self._schemas)
        self._by_method: dict[str, list[OperationSpec]] = {}
        for spec in self._all:
            self._by_method.setdefault(spec.method, []).append(spec)
        servers = [
            str(server.get("url", ""))
            for server in document.get("servers", [])
            if isinstance(server, Mapping)
        ]
        self._api_bases = {_origin_and_path(url) for url in [*servers, *api_urls]}
        self._namespace = _namespace(spec.template for spec in self._all)

    @property
    def namespace(self) -> str:
        """The path prefix every operation of the spec shares (``/v1/``), ``/`` if none."""
        return self._namespace

    # -- matching ----------------------------------------------------------------------------

    def match(self, method: str, path: str) -> Match | None:
        """The operation ``method path`` calls, or None when the path is not an API path.

        Args:
            method: The HTTP method.
            path: The URL's path, still percent-encoded (``request.url.raw_path``).
        """
        method = method.upper()
        for spec in self._by_method.get(method, ()):
            found = spec.regex.match(path)
            if found is not None:
                values = {
                    name: unquote(value)
                    for name, value in zip(spec.path_names, found.groups(), strict=True)
                }
                return Match(spec.operation_id, method, spec.template, values, spec)
        return None

    def _path_operations(self, path: str) -> list[OperationSpec]:
        return [spec for spec in self._all if spec.regex.match(path)]

    # -- checking ----------------------------------------------------------------------------

    def check_request(self, request: httpx.Request) -> list[Violation]:
        """Every way ``request`` breaks the spec; ``[]`` also when it is not an API call."""
        path, query = split_target(request.url)
        found = self.match(request.method, path)
        if found is None:
            return self.unmatched_violations(request.method, request.url)
        return self.request_violations(found, request, query)

    def check_response(self, request: httpx.Request, response: httpx.Response) -> list[Violation]:
        """Every way ``response`` breaks the spec for ``request``'s operation.

        The response body must have been read (``response.read()``), as httpx does unless
        ``stream=True``; a sync stream is read here.
        """
        path, _ = split_target(request.url)
        found = self.match(request.method, path)
        if found is None:
            return []
        return self.response_violations(found, response)

    def check(self, request: httpx.Request, response: httpx.Response) -> list[Violation]:
        """Both sides of one exchange."""
        path, query = split_target(request.url)
        found = self.match(request.method, path)
        if found is None:
            return self.unmatched_violations(request.method, request.url)
        return [
            *self.request_violations(found, request, query),
            *self.response_violations(found, response),
        ]

    def unmatched_violations(self, method: str, url: httpx.URL | str) -> list[Violation]:
        """For a request that matched no operation: a wrong method, or a path the spec lacks."""
        url = httpx.URL(url) if isinstance(url, str) else url
        path, _ = split_target(url)
        return self.method_violations(method, path) or self.path_violations(method, url)

    def is_api_url(self, url: httpx.URL) -> bool:
        """True when ``url`` goes to the API itself: an API host, under the API's namespace."""
        path, _ = split_target(url)
        origin = (url.scheme, url.host.lower(), url.port)
        for base_origin, base_path in self._api_bases:
            if origin == base_origin and path.startswith(base_path + self._namespace):
                return True
        return False

    def path_violations(self, method: str, url: httpx.URL) -> list[Violation]:
        """A call to the API on a path no operation of the spec has (e.g. a removed model)."""
        path, _ = split_target(url)
        if not self.is_api_url(url) or self._path_operations(path):
            return []
        return [
            Violation(
                pointer="/path",
                rule="path",
                message=f"{method.upper()} {path}: no operation of the spec has this path "
                "(a stale client calling a removed or renamed path?)",
                side="request",
                operation_id=None,
            )
        ]

    def method_violations(self, method: str, path: str) -> list[Violation]:
        """For a request that matched no operation: flagged if its path is an API path."""
        others = self._path_operations(path)
        if not others:
            return []
        allowed = ", ".join(sorted({spec.method for spec in others}))
        return [
            Violation(
                pointer="/method",
                rule="method",
                message=f"{method.upper()} is not documented for {others[0].template} "
                f"(documented: {allowed})",
                side="request",
                operation_id=None,
            )
        ]

    def request_violations(
        self, found: Match, request: httpx.Request, query: str = ""
    ) -> list[Violation]:
        """The request side, for a request already matched to an operation."""
        try:
            content = request.content
        except httpx.RequestNotRead:  # a streamed body
            content = request.read()
        return self.request_parts_violations(found, request.headers, content, query)

    def response_violations(self, found: Match, response: httpx.Response) -> list[Violation]:
        """The response side, for a request already matched to an operation."""
        try:
            content = response.content
        except httpx.ResponseNotRead:
            content = response.read()
        return self.response_parts_violations(
            found, response.status_code, response.headers, content
        )


def split_target(url: httpx.URL) -> tuple[str, str]:
    """The raw (still percent-encoded) path and query string of ``url``."""
    path, _, query = url.raw_path.decode("ascii", "replace").partition("?")
    return path, query


@functools.cache
def _default_contract() -> Contract:
    from .._spec import spec_document

    return Contract(spec_document())


def load_contract(
    document: Mapping[str, Any] | None = None, *, api_urls: Iterable[str] = ()
) -> Contract:
    """The compiled contract for ``document``; the packaged spec (compiled once) by default.

    ``api_urls`` adds base URLs that serve the API (see :class:`Contract`).
    """
    api_urls = tuple(api_urls)
    if document is None and not api_urls:
        return _default_contract()
    if document is None:
        from .._spec import spec_document

        document = spec_document()
    return Contract(document, api_urls=api_urls)


def _origin_and_path(url: str) -> tuple[tuple[str, str, int | None], str]:
    """``((scheme, host, port), path)`` of a base URL; the path without its trailing slash."""
    parsed = httpx.URL(url)
    path = parsed.raw_path.decode("ascii", "replace").partition("?")[0].rstrip("/")
    return (parsed.scheme, parsed.host.lower(), parsed.port), path


def _namespace(templates: Iterable[str]) -> str:
    """The literal leading segments every template shares, as ``/a/b/``; ``/`` if none."""
    shared: list[str] | None = None
    for template in templates:
        segments = [part for part in template.split("/") if part]
        literal = list(itertools.takewhile(lambda part: "{" not in part, segments[:-1]))
        if shared is None:
            shared = literal
            continue
        common = 0
        for a, b in zip(shared, literal, strict=False):
            if a != b:
                break
            common += 1
        shared = shared[:common]
    if not shared:
        return "/"
    return "/" + "/".join(shared) + "/"


def check_request(request: httpx.Request, *, contract: Contract | None = None) -> list[Violation]:
    """Every way ``request`` breaks the spec; ``[]`` when it is fine or not an API call."""
    return (contract or _default_contract()).check_request(request)


def check_response(
    request: httpx.Request, response: httpx.Response, *, contract: Contract | None = None
) -> list[Violation]:
    """Every way ``response`` to ``request`` breaks the spec; ``[]`` if fine or not an API call."""
    return (contract or _default_contract()).check_response(request, response)


def check_exchange(
    exchange: Exchange, *, contract: Contract | None = None
) -> list[Violation] | None:
    """Both sides of a recorded exchange; None when its URL is not an API call."""
    contract = contract or _default_contract()
    url = httpx.URL(exchange.url)
    path, query = split_target(url)
    found = contract.match(exchange.method, path)
    if found is None:
        return contract.unmatched_violations(exchange.method, url) or None
    violations = contract.request_parts_violations(
        found, httpx.Headers(exchange.request_headers), exchange.request_body, query
    )
    if exchange.status is not None:
        violations += contract.response_parts_violations(
            found, exchange.status, httpx.Headers(exchange.response_headers), exchange.response_body
        )
    return violations
