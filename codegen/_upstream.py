"""Where ``codegen sync`` reads RunComfy's published schema: a saved page, a JSON file, the API.

RunComfy publishes each model's input and output schema on the model's API page, as two JSON
blocks under the headings "Input schema" and "Output schema" (section "5. Schema"). Its own tools
also read a *model document*, ``{"model_id", "input_schema", "output_schema"}``, from
``GET /v1/models/{model_id}`` on the Model API; the public API reference does not list that
route, so ``--live`` is unofficial and may stop working without notice.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

__all__ = [
    "TOKEN_VARIABLES",
    "Upstream",
    "UpstreamError",
    "fetch_model",
    "find_token",
    "page_model",
    "page_schemas",
    "read_source",
    "upstream_from_json",
]

TOKEN_VARIABLES = ("RUNCOMFY_API_TOKEN", "RUNCOMFY_TOKEN", "YOUR_API_TOKEN")
"""Where ``--live`` looks for the API token, first found wins; the token is never printed."""
INPUT_HEADING = "Input schema"
OUTPUT_HEADING = "Output schema"
_TAG = re.compile(r"<\s*(?:!doctype|html|head|body|div|pre|code|p|h\d|span|section)\b", re.I)
# Elements after which the text of a page continues on a new line, so headings stay apart.
_BLOCKS = frozenset(
    {"p", "div", "pre", "br", "li", "ul", "ol", "section", "article", "table", "tr", "hr"}
    | {f"h{n}" for n in range(1, 7)}
)


class UpstreamError(Exception):
    """The source holds no schema we can read, or the service would not give it."""


@dataclass(frozen=True)
class Upstream:
    """The schemas one source publishes, still in RunComfy's dialect.

    Attributes:
        label: where they came from, for the report.
        input_schema: the model's input schema, or None when the source has none.
        output_object: the schema of the result's ``output`` object, or None.
        model_id: the model the source describes, when it says.
    """

    label: str
    input_schema: dict[str, Any] | None
    output_object: dict[str, Any] | None
    model_id: str | None = None


class _Text(HTMLParser):
    """The text of an HTML page, entities decoded; scripts and styles left out."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self._skip += 1
        elif tag in _BLOCKS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style"):
            self._skip = max(0, self._skip - 1)
        elif tag in _BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def page_text(text: str) -> str:
    """``text`` itself, or the text of it when it is an HTML page."""
    if not _TAG.search(text):
        return text
    parser = _Text()
    parser.feed(text)
    parser.close()
    return "".join(parser.parts)


def _block_after(text: str, heading: str) -> dict[str, Any] | None:
    """The first JSON object that directly follows ``heading`` (on its line or the next)."""
    decoder = json.JSONDecoder()
    for found in re.finditer(rf"(?<!\w){re.escape(heading)}\b[^\n{{]*", text):
        start = found.end()
        while start < len(text) and text[start].isspace():
            start += 1
        if not text.startswith("{", start):
            continue
        try:
            value, _ = decoder.raw_decode(text, start)
        except json.JSONDecodeError:
            continue
        if isinstance(value, dict):
            return value
    return None


def _output_object(block: Any) -> dict[str, Any] | None:
    """The ``output`` object's schema from an output schema block (``{"output": {...}}``)."""
    if not isinstance(block, dict):
        return None
    inner = block.get("output")
    if isinstance(inner, dict) and ("type" in inner or "properties" in inner):
        return inner
    if "properties" in block or block.get("type") == "object":
        return block
    return None


def page_schemas(text: str, label: str) -> Upstream:
    """The "Input schema" and "Output schema" blocks of a model's API page (text or HTML)."""
    plain = page_text(text)
    input_schema = _block_after(plain, INPUT_HEADING)
    output_object = _output_object(_block_after(plain, OUTPUT_HEADING))
    if input_schema is None and output_object is None:
        raise UpstreamError(
            f"{label}: no JSON block under an {INPUT_HEADING!r} or {OUTPUT_HEADING!r} heading"
        )
    return Upstream(label, input_schema, output_object, page_model(plain))


def page_model(text: str) -> str | None:
    """The model a page (text or HTML) documents: the one its own curl examples call; links to
    other models do not count."""
    found = re.search(r"--url\s+\S*?/v1/models/([\w.-]+(?:/[\w.-]+)*)", page_text(text))
    return found.group(1) if found else None


def upstream_from_json(value: Any, label: str) -> Upstream:
    """A model document (``input_schema``/``output_schema``, either optional) or a bare schema."""
    if not isinstance(value, dict):
        raise UpstreamError(f"{label}: expected a JSON object, got {type(value).__name__}")
    if {"input_schema", "output_schema", "model_id"} & value.keys():
        input_schema = value.get("input_schema")
        if input_schema is not None and not isinstance(input_schema, dict):
            raise UpstreamError(f"{label}: input_schema is not an object")
        output_object = _output_object(value.get("output_schema"))
        if value.get("output_schema") is not None and output_object is None:
            raise UpstreamError(
                f"{label}: output_schema is neither {{'output': {{...}}}} nor a schema"
            )
        if input_schema is None and output_object is None:
            raise UpstreamError(f"{label}: the model document has neither schema")
        model_id = value.get("model_id")
        return Upstream(label, input_schema, output_object, str(model_id) if model_id else None)
    if "properties" in value or value.get("type") == "object":
        return Upstream(label, value, None)
    raise UpstreamError(f"{label}: neither a model document nor an input schema")


def read_source(path: Path) -> Upstream:
    """The schemas in a saved page (text or HTML) or a JSON file."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UpstreamError(f"{path}: cannot read: {exc}") from exc
    stripped = text.lstrip()
    if stripped.startswith(("{", "[")):
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            raise UpstreamError(f"{path}: not valid JSON: {exc}") from exc
        return upstream_from_json(value, str(path))
    return page_schemas(text, str(path))


def find_token(environ: dict[str, str] | None = None) -> str | None:
    """The first non-empty token among ``TOKEN_VARIABLES``."""
    env = os.environ if environ is None else environ
    for name in TOKEN_VARIABLES:
        value = env.get(name, "").strip()
        if value:
            return value
    return None


def fetch_model(
    model_id: str,
    *,
    base_url: str,
    token: str,
    transport: Any = None,
    timeout: float = 30.0,
) -> Upstream:
    """``GET {base_url}/v1/models/{model_id}`` (unofficial): the model document it answers.

    Redirects are not followed, so the token goes to ``base_url``'s host and nowhere else.
    ``transport`` is an ``httpx`` transport, for tests.
    """
    import httpx

    url = f"{base_url.rstrip('/')}/v1/models/{model_id.strip('/')}"
    try:
        with httpx.Client(transport=transport, timeout=timeout, follow_redirects=False) as http:
            response = http.get(
                url, headers={"Authorization": f"Bearer {token}", "Accept": "application/json"}
            )
    except httpx.HTTPError as exc:
        raise UpstreamError(f"GET {url}: {type(exc).__name__}: {exc}") from None
    if response.status_code != 200:
        reason = response.reason_phrase
        try:
            body = response.json()
            if isinstance(body, dict) and body.get("message"):
                reason = f"{body.get('error_code', '')} {body['message']}".strip()
        except ValueError:
            pass
        raise UpstreamError(f"GET {url}: HTTP {response.status_code} {reason}")
    try:
        document = response.json()
    except ValueError as exc:
        raise UpstreamError(f"GET {url}: the answer is not JSON: {exc}") from None
    return upstream_from_json(document, f"GET {url}")
