"""``--json``: exactly one JSON object on stdout per command, on success and on failure.

A command's payload is held until the command ends; ``main`` then prints it once, with an
``error`` object (type, message, request_id, exit_code) added when the command failed. Without
``--json`` nothing is held: commands print their lines for people as they go.
"""

from __future__ import annotations

import contextvars
import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import click

__all__ = ["JsonOutput", "collecting", "error_object", "record"]

_CURRENT: contextvars.ContextVar[JsonOutput | None] = contextvars.ContextVar(
    "sora2_cli_json_output", default=None
)


class JsonOutput:
    """The one JSON object a command prints, assembled while it runs."""

    def __init__(self) -> None:
        self.payload: dict[str, Any] | None = None

    def flush(self, error: Mapping[str, Any] | None) -> None:
        """Print the object: the command's payload, plus ``error`` if it failed."""
        payload = dict(self.payload or {})
        if error is not None:
            payload["error"] = dict(error)
        click.echo(json.dumps(payload, default=str, sort_keys=True))


@contextmanager
def collecting(output: JsonOutput | None) -> Iterator[None]:
    """While inside, ``record`` hands payloads to ``output`` instead of printing them."""
    token = _CURRENT.set(output)
    try:
        yield
    finally:
        _CURRENT.reset(token)


def record(payload: Mapping[str, Any]) -> None:
    """A command's JSON result: held for ``main`` if it collects, else printed now."""
    output = _CURRENT.get()
    if output is None:
        click.echo(json.dumps(dict(payload), default=str, sort_keys=True))
    else:
        output.payload = dict(payload)


def error_object(
    error: BaseException, message: str, exit_code: int, request_id: str | None = None
) -> dict[str, Any]:
    """The ``error`` member: the library's error type when one caused the failure."""
    from .._exceptions import Sora2Error

    cause: BaseException = error
    while not isinstance(cause, Sora2Error) and cause.__cause__ is not None:
        cause = cause.__cause__
    if not isinstance(cause, Sora2Error):
        cause = error
    found_id = (
        request_id or getattr(error, "request_id", None) or getattr(cause, "request_id", None)
    )
    return {
        "type": type(cause).__name__,
        "message": message,
        "request_id": found_id,
        "exit_code": exit_code,
    }
