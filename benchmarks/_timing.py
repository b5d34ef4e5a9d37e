"""Interleaved measurement: every candidate once per round, in a rotating order.

Running A,B,A,B... instead of all of A then all of B spreads a noisy neighbour, a CPU
frequency change or a garbage collection over every candidate alike, and rotating the order
stops one candidate from always running first.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Mapping, Sequence
from typing import TypeVar

__all__ = ["interleaved", "median"]

T = TypeVar("T")


def interleaved(candidates: Mapping[str, Callable[[], T]], rounds: int) -> dict[str, list[T]]:
    """One sample per candidate per round; each callable measures once and returns its sample."""
    names = list(candidates)
    samples: dict[str, list[T]] = {name: [] for name in names}
    for round_ in range(rounds):
        shift = round_ % len(names)
        for name in names[shift:] + names[:shift]:
            samples[name].append(candidates[name]())
    return samples


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))
