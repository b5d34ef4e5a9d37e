"""What a job costs: a model's price multiplied out, with no I/O.

The price comes from the model document of the spec's unofficial ``model`` operation
(``GET /v1/models/{model_id}``): ``base_price_usd`` per ``price_unit``. Reading it is the
clients' business (``sora2._prices``); this module only turns a document and a job's duration
into an estimate that says how it was computed, or why it could not be. A unit not in
``PRICE_UNITS`` is never guessed at: the estimate is "cannot estimate".
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

__all__ = [
    "PRICE_FIELD",
    "PRICE_UNITS",
    "UNIT_FIELD",
    "CostEstimate",
    "estimate_cost",
    "format_usd",
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
