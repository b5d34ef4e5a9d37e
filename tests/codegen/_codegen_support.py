"""Helpers for the codegen tests: the real spec, its examples, and throwaway repository copies."""

from __future__ import annotations

import copy
import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from _repo_copy import copy_parts

ROOT = Path(__file__).resolve().parents[2]
SPEC = ROOT / "spec" / "sora2.openapi.yaml"
METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")
# What `codegen check` and `generate` read; the worked example also needs the hand-written layer.
PIPELINE_PARTS = ("spec", "codegen", "generated", "pyproject.toml")

_SPEC_CACHE: dict[str, Any] = {}


def spec_document() -> dict[str, Any]:
    """A fresh deep copy of the working tree's spec, safe to edit."""
    if "doc" not in _SPEC_CACHE:
        _SPEC_CACHE["doc"] = yaml.safe_load(SPEC.read_text(encoding="utf-8"))
    return copy.deepcopy(_SPEC_CACHE["doc"])


def deref(document: dict[str, Any], node: Any) -> tuple[Any, str | None]:
    """Follow local $refs; the target and the name of the last component followed."""
    name: str | None = None
    while isinstance(node, dict) and isinstance(node.get("$ref"), str):
        ref: str = node["$ref"]
        name = ref.rsplit("/", 1)[-1]
        node = document
        for token in ref[2:].split("/"):
            node = node[token.replace("~1", "/").replace("~0", "~")]
    return node, name


def _escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


@dataclass(frozen=True)
class Example:
    """One documented example of a request body or a response."""

    operation_id: str
    method: str
    path: str
    status: str | None  # None for the request body
    media: str
    name: str
    value: Any
    schema_pointer: str  # JSON pointer of the media type's schema in the document
    schema_name: str | None  # the component the schema refers to, if any

    @property
    def id(self) -> str:
        where = "request" if self.status is None else self.status
        return f"{self.operation_id}-{where}-{self.name}"


def iter_examples(document: dict[str, Any]) -> Iterator[Example]:
    """Every request-body and response example of every operation, in document order."""
    for path, item in document["paths"].items():
        for method in METHODS:
            op = item.get(method)
            if not isinstance(op, dict):
                continue
            base = f"/paths/{_escape(path)}/{method}"
            parts: list[tuple[str | None, Any, str]] = []
            if "requestBody" in op:
                parts.append((None, op["requestBody"], f"{base}/requestBody"))
            for status, response in op.get("responses", {}).items():
                parts.append((str(status), response, f"{base}/responses/{status}"))
            for status, raw, pointer in parts:
                if isinstance(raw, dict) and "$ref" in raw:
                    pointer = raw["$ref"][1:]
                resolved, _ = deref(document, raw)
                for media, body in (resolved.get("content") or {}).items():
                    _, schema_name = deref(document, body.get("schema", {}))
                    for name, example in (body.get("examples") or {}).items():
                        example, _ = deref(document, example)
                        yield Example(
                            operation_id=op["operationId"],
                            method=method.upper(),
                            path=path,
                            status=status,
                            media=media,
                            name=name,
                            value=example["value"],
                            schema_pointer=f"{pointer}/content/{_escape(media)}/schema",
                            schema_name=schema_name,
                        )


def copy_repo(target: Path, parts: tuple[str, ...] = PIPELINE_PARTS) -> Path:
    """Copy the named top-level parts of this checkout into ``target``; returns ``target``."""
    return copy_parts(target, parts)


def run_codegen(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``python -m codegen --root ROOT ARGS`` in a subprocess, using the copy's own codegen."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return subprocess.run(
        [sys.executable, "-m", "codegen", "--root", str(root), *args],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def unused(taken: Any, preferred: Any) -> Any:
    """``preferred``, or the next value like it that ``taken`` does not hold.

    A test that adds "a new enum value" must pick one the spec does not have yet: after the
    spec itself gains 16 s videos, the new duration of a test is 17.
    """
    value = preferred
    while value in taken:
        size = re.fullmatch(r"(\d+)x(\d+)", str(value))
        if isinstance(value, int):
            value += 1
        elif size:  # a resolution stays one: 16 pixels wider
            value = f"{int(size.group(1)) + 16}x{size.group(2)}"
        else:
            value = f"{value}_new"
    return value


def write_spec(path: Path, document: dict[str, Any]) -> Path:
    """Write ``document`` as YAML to ``path`` (parents created); returns ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=100), encoding="utf-8"
    )
    return path


Doc = dict[str, Any]
NEW_SECONDS = unused(
    spec_document()["components"]["schemas"]["Input"]["properties"]["seconds"]["enum"], 16
)
"""A duration the spec does not offer yet, for tests that add one."""
NEW_STATE = unused(
    spec_document()["components"]["schemas"]["KnownRequestState"]["enum"], "moderating"
)
"""A state the spec does not list yet, for tests that add one."""
NEW_OPTIONAL = unused(spec_document()["components"]["schemas"]["Input"]["properties"], "seed")
"""An input property name the spec does not have yet, for tests that add an optional one."""
NEW_REQUIRED = unused(spec_document()["components"]["schemas"]["Input"]["properties"], "style")
"""Likewise, for tests that add a required one."""
SUBMIT_PATH = "/v1/models/openai/sora-2/text-to-video"
STATUS_PATH = "/v1/requests/{request_id}/status"
CANCEL_PATH = "/v1/requests/{request_id}/cancel"


def schemas(doc: Doc) -> dict[str, Any]:
    found: dict[str, Any] = doc["components"]["schemas"]
    return found


def prop(doc: Doc, schema: str, name: str) -> dict[str, Any]:
    found: dict[str, Any] = schemas(doc)[schema]["properties"][name]
    return found


def op(doc: Doc, path: str) -> dict[str, Any]:
    """The one operation under ``path``."""
    item = doc["paths"][path]
    found: dict[str, Any] = next(v for k, v in item.items() if k != "parameters")
    return found


def set_key(path: Callable[[Doc], dict[str, Any]], key: str, value: Any) -> Callable[[Doc], None]:
    """An edit that sets ``key`` of the mapping ``path(doc)`` to ``value``."""

    def edit(doc: Doc) -> None:
        path(doc)[key] = value

    return edit


class GitRepo:
    """A throwaway git repository holding a spec at the real spec's path."""

    def __init__(self, root: Path, branch: str = "main") -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.git("init", "-q", "-b", branch)

    @property
    def spec(self) -> Path:
        return self.root / "spec" / "sora2.openapi.yaml"

    def git(self, *args: str) -> str:
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("GIT_")},
            "GIT_CONFIG_GLOBAL": os.devnull,
            "GIT_CONFIG_NOSYSTEM": "1",
        }
        proc = subprocess.run(
            ["git", "-c", "user.name=t", "-c", "user.email=t@example.test", *args],
            cwd=self.root,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        return proc.stdout.strip()

    def commit(self, document: Doc, message: str, *, tag: str | None = None) -> None:
        write_spec(self.spec, document)
        self.git("add", "-A")
        self.git("commit", "-q", "-m", message)
        if tag:
            self.git("tag", tag)


def attrs_classes(document: dict[str, Any], node: dict[str, Any]) -> tuple[type, ...]:
    """The generated attrs classes a schema parses into, in the order the client tries them.

    An ``anyOf`` gives one class per branch. openapi-python-client generates no class for an
    ``allOf`` of a single ``$ref`` (plus keywords it does not model, such as ``not``): it
    parses it as the referenced class.
    """
    import sora2_api.models

    schema, name = deref(document, node)
    if "anyOf" in schema:
        return tuple(t for branch in schema["anyOf"] for t in attrs_classes(document, branch))
    if not hasattr(sora2_api.models, name or "") and len(schema.get("allOf", ())) == 1:
        return attrs_classes(document, schema["allOf"][0])
    return (getattr(sora2_api.models, name or ""),)
