"""A model's submit request, built by the generated client's own module for that operation.

The generated client (``sora2_api``) has one module per operation, under its tag, and one attrs
class per input schema. Which module is a model's is read from the spec (the submit operation's
tag and operationId, named as openapi-python-client names modules), so a model added to the
spec is sent through its own generated module after regeneration, with no edit here.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import re
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._spec import Operation

__all__ = ["operation_module_name", "submit_module_name", "submit_request"]

_WORD_BREAK = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_NOT_WORD = re.compile(r"[^0-9A-Za-z]+")


def _snake(name: str) -> str:
    """``text-to-video`` -> ``text_to_video``, ``submitProText`` -> ``submit_pro_text``."""
    return _NOT_WORD.sub("_", _WORD_BREAK.sub("_", name)).strip("_").lower()


def operation_module_name(found: Operation) -> str:
    """The generated module of an operation: its first tag's package, its operationId's name."""
    tags = found.raw.get("tags") or ["default"]
    return f"sora2_api.api.{_snake(str(tags[0]))}.{_snake(found.operation_id)}"


def submit_module_name(model_id: str | None = None) -> str:
    """The generated module of a model's submit operation (None: the default model's)."""
    from ._spec import model

    return operation_module_name(model(model_id).submit)


@functools.cache
def _builder(model_id: str) -> tuple[Callable[..., dict[str, Any]], Any]:
    module = importlib.import_module(submit_module_name(model_id))
    build: Callable[..., dict[str, Any]] = module.build_request_kwargs
    body_class = inspect.signature(build).parameters["body"].annotation
    return build, body_class


def submit_request(model_id: str, body: Mapping[str, Any]) -> dict[str, Any]:
    """``httpx.Client.request`` keyword arguments that submit ``body`` (already checked) to
    ``model_id``, through the generated module and input class of that model."""
    build, body_class = _builder(model_id)
    return build(body=body_class.from_dict(dict(body)))
