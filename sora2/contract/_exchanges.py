"""Recorded exchanges: the JSONL format the transports and the pytest plugin write, and HAR 1.2.

JSONL format, one exchange per line (a JSON object)::

    {"method": "POST", "url": "https://model-api.runcomfy.net/v1/models/openai/sora-2/text-to-video",
     "request_headers": {"authorization": "Bearer <redacted>", "content-type": "application/json"},
     "request_body": "{\"prompt\": \"a cat\"}",
     "status": 200, "response_headers": {"content-type": "application/json"},
     "response_body": "{\"request_id\": \"...\", ...}"}

``method``, ``url`` and ``status`` are required; ``status`` is null when no response was
received. Headers are an object (names in any case) or a list of ``[name, value]`` pairs.
Bodies are text (UTF-8), any other JSON value (taken as the JSON body itself), or null for
none; a body stored as base64 says so with ``"request_body_encoding": "base64"`` (or
``response_body_encoding``). Bodies are stored decoded, so ``Content-Encoding`` is ignored
on reading. Any other key (``test``, ``violations``) is kept for people and ignored.

Credentials never reach a file: ``Authorization`` keeps its scheme and loses its token.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ._violations import Violation

__all__ = ["Exchange", "append_jsonl", "read_exchanges", "redact_headers"]

_SECRET_HEADERS = frozenset({"authorization", "proxy-authorization"})
_OPAQUE_HEADERS = frozenset({"cookie", "set-cookie", "x-api-key", "api-key"})
_STORED_DECODED = frozenset({"content-encoding", "content-length", "transfer-encoding"})
REDACTED = "<redacted>"

Headers = list[tuple[str, str]]


def redact_headers(headers: Iterable[tuple[str, str]]) -> Headers:
    """Headers safe to write down: credentials replaced, the auth scheme kept for checking."""
    safe: Headers = []
    for name, value in headers:
        lowered = name.lower()
        if lowered in _SECRET_HEADERS:
            scheme, _, credentials = value.strip().partition(" ")
            value = f"{scheme} {REDACTED}" if credentials.strip() else value
        elif lowered in _OPAQUE_HEADERS:
            value = REDACTED
        safe.append((lowered, value))
    return safe


@dataclass(slots=True)
class Exchange:
    """One request and (unless ``status`` is None) its response, headers already redacted."""

    method: str
    url: str
    request_headers: Headers = field(default_factory=list)
    request_body: bytes = b""
    status: int | None = None
    response_headers: Headers = field(default_factory=list)
    response_body: bytes | None = b""  # None: not recorded (HAR without content.text)
    violations: list[Violation] = field(default_factory=list)
    test: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The JSONL object for this exchange."""
        line: dict[str, Any] = {"method": self.method, "url": self.url}
        line["request_headers"] = _headers_json(self.request_headers)
        _put_body(line, "request_body", self.request_body)
        line["status"] = self.status
        if self.status is not None:
            line["response_headers"] = _headers_json(self.response_headers)
            _put_body(line, "response_body", self.response_body)
        if self.test is not None:
            line["test"] = self.test
        if self.violations:
            line["violations"] = [v.to_dict() for v in self.violations]
        return line

    @classmethod
    def from_json(cls, data: Any) -> Exchange:
        """Parse one JSONL object; raises ValueError naming what is wrong."""
        if not isinstance(data, dict):
            raise ValueError("an exchange must be a JSON object")
        for key in ("method", "url"):
            if not isinstance(data.get(key), str) or not data[key]:
                raise ValueError(f"{key!r} must be a non-empty string")
        if "status" not in data:
            raise ValueError("'status' is required (null when there was no response)")
        status = data["status"]
        if status is not None and (not isinstance(status, int) or isinstance(status, bool)):
            raise ValueError("'status' must be an integer or null")
        response_body = _read_body(data, "response_body")
        return cls(
            method=str(data["method"]).upper(),
            url=str(data["url"]),
            request_headers=redact_headers(_read_headers(data.get("request_headers"))),
            request_body=_read_body(data, "request_body") or b"",
            status=status,
            response_headers=redact_headers(_read_headers(data.get("response_headers"))),
            response_body=response_body if response_body is not None else b"",
            test=data.get("test") if isinstance(data.get("test"), str) else None,
        )


def _headers_json(headers: Headers) -> dict[str, str]:
    merged: dict[str, str] = {}
    for name, value in headers:
        if name in _STORED_DECODED:
            continue  # the body is stored decoded
        merged[name] = f"{merged[name]}, {value}" if name in merged else value
    return merged


def _put_body(line: dict[str, Any], key: str, body: bytes | None) -> None:
    if not body:
        line[key] = None
        return
    try:
        line[key] = body.decode("utf-8")
    except UnicodeDecodeError:
        line[key] = base64.b64encode(body).decode("ascii")
        line[f"{key}_encoding"] = "base64"


def _read_headers(value: Any) -> Headers:
    if value is None:
        return []
    if isinstance(value, Mapping):
        pairs = list(value.items())
    elif isinstance(value, list) and all(
        isinstance(p, list | tuple) and len(p) == 2 for p in value
    ):
        pairs = [(p[0], p[1]) for p in value]
    else:
        raise ValueError("headers must be an object or a list of [name, value] pairs")
    if not all(isinstance(n, str) and isinstance(v, str) for n, v in pairs):
        raise ValueError("header names and values must be strings")
    return [(name, val) for name, val in pairs if name.lower() not in _STORED_DECODED]


def _read_body(data: Mapping[str, Any], key: str) -> bytes | None:
    value = data.get(key)
    if value is None:
        return None
    if isinstance(value, str):
        if data.get(f"{key}_encoding") == "base64":
            try:
                return base64.b64decode(value, validate=True)
            except binascii.Error as exc:
                raise ValueError(f"{key!r} is not valid base64") from exc
        return value.encode("utf-8")
    return json.dumps(value).encode("utf-8")


_write_lock = threading.Lock()


def append_jsonl(path: str | os.PathLike[str], exchange: Exchange) -> None:
    """Append one exchange as one line; one write per line so parallel writers interleave safely."""
    line = json.dumps(exchange.to_json(), ensure_ascii=False, separators=(",", ":")) + "\n"
    with _write_lock, open(path, "a", encoding="utf-8") as handle:
        handle.write(line)


def _har_headers(items: Any) -> Headers:
    if not isinstance(items, list):
        return []
    return [
        (str(item["name"]), str(item["value"]))
        for item in items
        if isinstance(item, dict) and "name" in item and "value" in item
    ]


def _har_text(content: Any, encoded_key: str = "encoding") -> bytes | None:
    if not isinstance(content, dict) or not isinstance(content.get("text"), str):
        return None
    text: str = content["text"]
    if content.get(encoded_key) == "base64":
        try:
            return base64.b64decode(text)
        except binascii.Error as exc:
            raise ValueError("content.text is not valid base64") from exc
    return text.encode("utf-8")


def _with_mime(headers: Headers, mime: Any) -> Headers:
    if isinstance(mime, str) and mime and not any(n.lower() == "content-type" for n, _ in headers):
        headers.append(("content-type", mime))
    return headers


def _from_har_entry(entry: Any) -> Exchange:
    if not isinstance(entry, dict) or not isinstance(entry.get("request"), dict):
        raise ValueError("an entry must be an object with a 'request'")
    request, response = entry["request"], entry.get("response") or {}
    if not isinstance(request.get("method"), str) or not isinstance(request.get("url"), str):
        raise ValueError("request.method and request.url must be strings")
    post = request.get("postData")
    request_headers = _har_headers(request.get("headers"))
    request_body = b""
    if isinstance(post, dict):
        request_body = _har_text(post) or b""
        _with_mime(request_headers, post.get("mimeType"))
    status = response.get("status") if isinstance(response, dict) else None
    if not isinstance(status, int) or isinstance(status, bool) or status <= 0:
        status = None  # HAR writes 0 for a request that got no response
    content = response.get("content") if isinstance(response, dict) else None
    response_headers = _har_headers(response.get("headers") if response else None)
    if isinstance(content, dict):
        _with_mime(response_headers, content.get("mimeType"))
    body = _har_text(content)
    if body is None and isinstance(content, dict) and content.get("size") == 0:
        body = b""
    return Exchange(
        method=request["method"].upper(),
        url=request["url"],
        request_headers=redact_headers(
            (n, v) for n, v in request_headers if n.lower() not in _STORED_DECODED
        ),
        request_body=request_body,
        status=status,
        response_headers=redact_headers(
            (n, v) for n, v in response_headers if n.lower() not in _STORED_DECODED
        ),
        response_body=body,
    )


def read_exchanges(path: str | os.PathLike[str]) -> list[Exchange]:
    """Exchanges from a HAR 1.2 file or a JSONL file (see the module docstring).

    Raises:
        OSError: the file cannot be read.
        ValueError: the file is neither, with the line or entry at fault.
    """
    name = os.fspath(path)
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValueError(f"{name}: not UTF-8 text") from exc
    stripped = text.lstrip()
    if stripped.startswith("{"):
        try:
            whole = json.loads(text)
        except ValueError:
            whole = None
        if isinstance(whole, dict) and "log" in whole:
            return _read_har(name, whole)
    exchanges: list[Exchange] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            exchanges.append(Exchange.from_json(json.loads(line)))
        except ValueError as exc:
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise ValueError(f"{name}: line {number}: {reason}") from exc
    if not exchanges and stripped:
        raise ValueError(f"{name}: neither HAR nor JSONL")
    return exchanges


def _read_har(name: str, document: dict[str, Any]) -> list[Exchange]:
    log = document["log"]
    entries = log.get("entries") if isinstance(log, dict) else None
    if not isinstance(entries, list):
        raise ValueError(f"{name}: HAR log.entries must be a list")
    exchanges = []
    for index, entry in enumerate(entries):
        try:
            exchanges.append(_from_har_entry(entry))
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"{name}: HAR entry {index}: {exc}") from exc
    return exchanges
