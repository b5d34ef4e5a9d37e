"""Reading a model's price for the clients, and refusing a job that would cost too much.

The price is in the model document of the spec's unofficial ``model`` operation, asked through
the generated module of that model's operation (as a submit is). The route is unofficial, so a
404, an error or a document without a price is not a failure: the estimate says it cannot be
made, a warning says so once per model, and the job goes on, unless ``max_cost`` was given,
in which case nothing is submitted. The arithmetic is ``sora2._pricing``'s.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Mapping
from typing import Any

import httpx

from ._exceptions import ConfigurationError, CostLimitError, InvalidInputError
from ._logging import logger
from ._pricing import CostEstimate, estimate_cost, format_usd, unpriced

__all__ = [
    "Unread",
    "check_max_cost",
    "check_price_inputs",
    "document_request",
    "estimate_from",
    "judge_cost",
    "read_document",
]


class Unread:
    """Why a model's price could not be read (kept so it is asked and warned about once)."""

    def __init__(self, reason: str) -> None:
        self.reason = reason


def document_request(model_id: str) -> dict[str, Any] | None:
    """``httpx`` request keywords of the model's document operation, from its generated
    module; None when the spec gives the model no document operation."""
    from ._operations import operation_module_name
    from ._spec import model

    document = model(model_id).document
    if document is None:
        return None
    module = importlib.import_module(operation_module_name(document))
    kwargs: dict[str, Any] = module.build_request_kwargs()
    return kwargs


def read_document(raw: httpx.Response) -> Any:
    """The document of a ``GET /v1/models/{model_id}`` answer, or ``Unread`` saying why not.

    Raises:
        AuthenticationError: 401, the token is refused: every request would be, so the
            caller hears it now rather than as an unreadable price.
    """
    if raw.status_code == 401:
        from ._errors import error_for_status

        raise error_for_status(raw, request_id=None)
    if raw.status_code != 200:
        return Unread(f"GET {raw.request.url.path} answered {raw.status_code} (unofficial route)")
    try:
        return raw.json()
    except (ValueError, RecursionError):  # RecursionError: nested too deep to decode
        return Unread(f"GET {raw.request.url.path} answered a body that is not JSON")


def estimate_from(model_id: str, document: Any, seconds: int | None) -> CostEstimate:
    if isinstance(document, Unread):
        return unpriced(model_id, document.reason)
    return estimate_cost(model_id, document, seconds)


def check_max_cost(max_cost: float | None) -> None:
    """A budget must be a finite number of dollars >= 0."""
    if max_cost is None:
        return
    if (
        isinstance(max_cost, bool)
        or not isinstance(max_cost, int | float)
        or not math.isfinite(max_cost)
        or max_cost < 0
    ):
        raise ConfigurationError(f"max_cost must be a number of USD >= 0, not {max_cost!r}")


def judge_cost(
    estimate: CostEstimate, max_cost: float | None, *, spent: float = 0.0, what: str = "the job"
) -> None:
    """Refuse (``CostLimitError``) when ``spent`` plus the estimate exceeds ``max_cost``, or
    when a budget was given and the cost cannot be estimated; without one, an unknown cost is
    a warning."""
    if estimate.usd is None:
        if max_cost is None:
            logger.warning("%s; submitting anyway (no max_cost was given)", estimate.basis)
            return
        raise CostLimitError(
            f"max_cost={format_usd(max_cost)} was given but {estimate.basis}; nothing was "
            "submitted",
            max_cost=max_cost,
            estimate_usd=None,
            basis=estimate.basis,
        )
    if max_cost is not None and spent + estimate.usd > max_cost + 1e-9:
        already = f" on top of {format_usd(spent)} already spent" if spent else ""
        raise CostLimitError(
            f"{what} would cost {format_usd(estimate.usd)} ({estimate.basis}){already}, over "
            f"max_cost={format_usd(max_cost)}; nothing was submitted",
            max_cost=max_cost,
            estimate_usd=estimate.usd,
            basis=estimate.basis,
        )


def check_price_inputs(inputs: Mapping[str, Any], model_id: str) -> None:
    """The inputs given to ``price`` must be ones the model allows (a prompt or a required
    file is not needed to price a job, so "required" is not checked)."""
    from ._spec import input_validator

    body = {k: v for k, v in inputs.items() if v is not None}
    for error in input_validator(model_id).iter_errors(body):
        if error.validator == "required":
            continue
        name = str(error.path[0]) if error.path else "body"
        raise InvalidInputError(
            f"{name}={body.get(name)!r} is not allowed: {error.message}", field=name
        )
