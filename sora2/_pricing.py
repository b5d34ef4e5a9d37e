"""What a job costs: a model's price read and multiplied out, and a job refused that would
cost too much.

The price comes from the model document of the spec's unofficial ``model`` operation
(``GET /v1/models/{model_id}``): ``base_price_usd`` per ``price_unit``, asked through the
generated module of that model's operation (as a submit is). The clients do the asking; this
module builds the request, reads the answer and turns a document and a job's duration into an
estimate that says how it was computed, or why it could not be. A unit not in ``PRICE_UNITS``
is never guessed at: the estimate is "cannot estimate".

The route is unofficial, so a 404, an error or a document without a price is not a failure:
the estimate says it cannot be made, a warning says so once per model, and the job goes on,
unless ``max_cost`` was given, in which case nothing is submitted.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from ._exceptions import ConfigurationError, CostLimitError, InvalidInputError
from ._transports import logger

if TYPE_CHECKING:
    import httpx

__all__ = [
    "PRICE_FIELD",
    "PRICE_UNITS",
    "UNIT_FIELD",
    "CostEstimate",
    "Unread",
    "check_max_cost",
    "check_price_inputs",
    "document_request",
    "estimate_cost",
    "estimate_from",
    "format_usd",
    "judge_cost",
    "read_document",
    "sum_known",
    "unpriced",
]

PRICE_FIELD: Final = "base_price_usd"
UNIT_FIELD: Final = "price_unit"
PRICE_UNITS: Final[Mapping[str, str]] = {
    "second": "per second of video",
    "request": "per job",
}
"""The units sora2 multiplies out, as the spec's ``ModelDocument.price_unit`` documents them:
``second`` is charged per second of video asked for, ``request`` once per job."""
_DIGITS: Final = 6
"""Estimates are rounded to a millionth of a dollar, so 0.1 x 3 is 0.3 and sums stay exact."""


@dataclass(frozen=True)
class CostEstimate:
    """A job's estimated cost in USD, or None with the reason it could not be estimated."""

    model: str
    usd: float | None
    basis: str
    """How the estimate was computed (``$0.10 per second x 8 s``), or why there is none."""
    base_price_usd: float | None = None
    price_unit: str | None = None
    seconds: int | None = None
    """The duration the estimate assumed, for a per-second price."""

    @property
    def known(self) -> bool:
        return self.usd is not None

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "estimate_usd": self.usd,
            "basis": self.basis,
            "base_price_usd": self.base_price_usd,
            "price_unit": self.price_unit,
            "seconds": self.seconds,
        }


def format_usd(amount: float) -> str:
    """``$0.40``; amounts below a cent keep their digits (``$0.004``)."""
    if amount and abs(amount) < 0.01:
        return f"${amount:.6f}".rstrip("0")
    return f"${amount:,.2f}"


def unpriced(model: str, reason: str) -> CostEstimate:
    """The estimate of a model whose price could not be read."""
    return CostEstimate(model, None, f"cannot estimate the cost of {model}: {reason}")


def _is_price(value: Any) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    try:
        return math.isfinite(float(value)) and value >= 0
    except OverflowError:  # an integer too large for a float
        return False


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def estimate_cost(model: str, document: Any, seconds: int | None) -> CostEstimate:
    """The cost of one job of ``model`` lasting ``seconds`` (None: unknown), priced by the
    model ``document`` (the JSON of ``GET /v1/models/{model_id}``)."""
    if not isinstance(document, Mapping):
        return unpriced(model, "the model document is not a JSON object")
    price, unit = document.get(PRICE_FIELD), document.get(UNIT_FIELD)
    if price is None or unit is None:
        missing = [name for name, v in ((PRICE_FIELD, price), (UNIT_FIELD, unit)) if v is None]
        return unpriced(model, f"the model document has no {' or '.join(missing)}")
    if not _is_price(price):
        return unpriced(model, f"{PRICE_FIELD}={_short(price)} is not a price")
    if not isinstance(unit, str) or unit not in PRICE_UNITS:
        known = ", ".join(repr(u) for u in PRICE_UNITS)
        return CostEstimate(
            model,
            None,
            f"cannot estimate the cost of {model}: {UNIT_FIELD}={_short(unit)} is not a unit sora2 "
            f"knows ({known})",
            float(price),
            str(unit),
        )
    each = f"{format_usd(price)} {PRICE_UNITS[unit]}"
    if unit == "request":
        return CostEstimate(model, round(float(price), _DIGITS), each, float(price), unit)
    if seconds is None:
        return CostEstimate(
            model,
            None,
            f"cannot estimate the cost of {model}: {each}, and the job's duration is unknown",
            float(price),
            unit,
        )
    usd = round(float(price) * seconds, _DIGITS)
    return CostEstimate(model, usd, f"{each} x {seconds} s", float(price), unit, seconds)


def sum_known(estimates: Iterable[CostEstimate]) -> tuple[float, int]:
    """The total of the known estimates and how many were unknown."""
    total, unknown = 0.0, 0
    for found in estimates:
        if found.usd is None:
            unknown += 1
        else:
            total += found.usd
    return round(total, _DIGITS), unknown


# Reading the price, judging a job -------------------------------------------------------


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
    from ._compiler import input_validator

    body = {k: v for k, v in inputs.items() if v is not None}
    for error in input_validator(model_id).iter_errors(body):
        if error.validator == "required":
            continue
        name = str(error.path[0]) if error.path else "body"
        raise InvalidInputError(
            f"{name}={body.get(name)!r} is not allowed: {error.message}", field=name
        )
