"""Injected faults: one small grammar for ``sora2 emulator --faults`` and for Python.

A fault spec is a comma-separated list of rules::

    RULE    = TARGET ":" KIND ["=" VALUE] ["@" TRIGGER]
    TARGET  = an operationId of the spec (submit, status, result, cancel), "video" or "*"
    KIND    = 429 | 500 | 502 | 503 | drop | slow | truncate | fail
    TRIGGER = every=N | first=N | after=N | rate=P          (no trigger: every call)

for instance ``status:429@every=5,submit:drop@rate=0.1,*:slow=0.5@first=2``. ``*`` stands for
every operation of the spec (not the video download, which must be named as ``video``).

Kinds, and what the optional VALUE means:

- ``429[=S]`` and ``503[=S]``: the error body of the spec with ``Retry-After: S`` (default 1).
- ``500``: the spec's 500001 error body. ``502``: an edge proxy's HTML page.
  These four answer *before* the request is processed: nothing happens to any job.
- ``drop[=after|before]``: the connection is closed without a response. ``after`` (the default)
  processes the request first, so a dropped submit has created a job, which is the case a
  client must not retry blindly; ``before`` drops it untouched.
- ``slow[=S]``: the response is held S seconds (default 1.0), then sent normally.
- ``truncate``: the request is processed and its body is cut in half (Content-Length matches
  the cut, so the HTTP exchange is complete but the JSON is not).
- ``fail`` (``submit`` only): the submission is accepted as usual, and the job it creates runs,
  then ends in the spec's failed state with an ``error`` object and no output.

Each rule counts the calls to its target on its own, whether or not another rule fired:
``every=N`` fires on calls N, 2N, ...; ``first=N`` on calls 1..N; ``after=N`` on every call
after the first N; ``rate=P`` with probability P from a generator seeded by the emulator's
seed and the rule's position, so the same sequence of calls meets the same faults. The delays
of ``slow`` rules that fire add up; then the first other rule that fires, in written order, is
applied.
"""

from __future__ import annotations

import math
import random
import threading
from collections.abc import Iterable
from dataclasses import dataclass

import httpx

from .._exceptions import InvalidInputError
from .._spec import operations
from ._constants import DEFAULT_RETRY_AFTER, DEFAULT_SLOW_DELAY

__all__ = [
    "ANY_TARGET",
    "FAIL_TARGET",
    "FAULT_KINDS",
    "VIDEO_TARGET",
    "ConnectionDropped",
    "FaultDecision",
    "FaultPlan",
    "FaultRule",
    "fault_targets",
    "parse_faults",
]

FAULT_KINDS = ("429", "500", "502", "503", "drop", "slow", "truncate", "fail")
FAIL_TARGET = "submit"
"""The only target of a ``fail`` rule: a job fails from the submission that created it."""
STATUS_FAULTS = frozenset({"429", "500", "502", "503"})
TRIGGERS = ("every", "first", "after", "rate")
VIDEO_TARGET = "video"
ANY_TARGET = "*"
_DROP_MOMENTS = ("after", "before")


class ConnectionDropped(httpx.RemoteProtocolError):
    """An injected dropped connection, as seen through an in-process transport.

    Over a socket the emulator aborts the TCP connection and httpx raises its own
    ``RemoteProtocolError``; in process there is no socket, so the app raises this subclass,
    which ``httpx.ASGITransport`` and ``SyncASGITransport`` pass on to the caller. Either way a
    client sees ``httpx.RemoteProtocolError``.
    """

    def __init__(self) -> None:
        super().__init__("Server disconnected without sending a response.")


def fault_targets() -> tuple[str, ...]:
    """Every TARGET the grammar accepts: the spec's operationIds, ``video`` and ``*``."""
    return (*operations(), VIDEO_TARGET, ANY_TARGET)


def _number(text: str) -> str:
    value = float(text)
    return str(int(value)) if value.is_integer() else repr(value)


@dataclass(frozen=True)
class FaultRule:
    """One parsed rule; ``str(rule)`` gives it back in the grammar."""

    target: str
    kind: str
    value: float | str | None = None
    trigger: str | None = None
    amount: float = 0.0

    def matches(self, target: str) -> bool:
        if self.target == ANY_TARGET:
            return target != VIDEO_TARGET and target in operations()
        return self.target == target

    def fires(self, call: int, draw: float) -> bool:
        """Whether the rule applies to the ``call``-th matching call (1-based)."""
        if self.trigger == "every":
            return call % int(self.amount) == 0
        if self.trigger == "first":
            return call <= self.amount
        if self.trigger == "after":
            return call > self.amount
        if self.trigger == "rate":
            return draw < self.amount
        return True

    @property
    def retry_after(self) -> int:
        return int(self.value) if isinstance(self.value, float | int) else DEFAULT_RETRY_AFTER

    @property
    def delay(self) -> float:
        return float(self.value) if isinstance(self.value, float | int) else DEFAULT_SLOW_DELAY

    @property
    def drops_before(self) -> bool:
        return self.kind == "drop" and self.value == "before"

    def __str__(self) -> str:
        text = f"{self.target}:{self.kind}"
        if self.value is not None:
            text += (
                f"={_number(str(self.value)) if not isinstance(self.value, str) else self.value}"
            )
        if self.trigger is not None:
            text += f"@{self.trigger}={_number(str(self.amount))}"
        return text


@dataclass(frozen=True)
class FaultDecision:
    """What to do to one request: the ``slow`` rules that fired and the fault to apply."""

    slow: tuple[FaultRule, ...] = ()
    fault: FaultRule | None = None

    @property
    def delay(self) -> float:
        return sum(rule.delay for rule in self.slow)


NO_FAULT = FaultDecision()


class FaultPlan:
    """A list of rules plus their call counters and seeded generators; thread-safe.

    Assign one to ``Emulator.faults`` (or a spec string, parsed with the emulator's seed).
    ``reset()`` starts the counters and generators again.
    """

    def __init__(self, rules: Iterable[FaultRule] = (), *, seed: int = 0) -> None:
        self._rules = tuple(rules)
        self._seed = seed
        self._lock = threading.Lock()
        self._calls = [0] * len(self._rules)
        self._rngs: list[random.Random] = []
        self.reset()

    @property
    def rules(self) -> tuple[FaultRule, ...]:
        return self._rules

    @property
    def seed(self) -> int:
        return self._seed

    def reset(self) -> None:
        with self._lock:
            self._calls = [0] * len(self._rules)
            self._rngs = [
                random.Random(f"{self._seed}/{index}/{rule}")
                for index, rule in enumerate(self._rules)
            ]

    def decide(self, target: str) -> FaultDecision:
        """Count one call to ``target`` against every matching rule and say what fires."""
        if not self._rules:
            return NO_FAULT
        slow: list[FaultRule] = []
        fault: FaultRule | None = None
        with self._lock:
            for index, rule in enumerate(self._rules):
                if not rule.matches(target):
                    continue
                self._calls[index] += 1
                draw = self._rngs[index].random()
                if not rule.fires(self._calls[index], draw):
                    continue
                if rule.kind == "slow":
                    slow.append(rule)
                elif fault is None:
                    fault = rule
        if not slow and fault is None:
            return NO_FAULT
        return FaultDecision(tuple(slow), fault)

    def __bool__(self) -> bool:
        return bool(self._rules)

    def __str__(self) -> str:
        return ",".join(str(rule) for rule in self._rules)

    def __repr__(self) -> str:
        return f"FaultPlan({str(self)!r}, seed={self._seed})"


def _fail(message: str, text: str) -> InvalidInputError:
    return InvalidInputError(f"bad fault rule {text!r}: {message}", field="faults", value=text)


def _parse_value(kind: str, value: str | None, text: str) -> float | str | None:
    if kind in ("429", "503"):
        if value is None:
            return DEFAULT_RETRY_AFTER
        if not value.isdigit():
            raise _fail("the Retry-After value must be a whole number of seconds", text)
        return int(value)
    if kind == "slow":
        if value is None:
            return DEFAULT_SLOW_DELAY
        try:
            delay = float(value)
        except ValueError:
            delay = math.nan
        if not math.isfinite(delay) or delay < 0:
            raise _fail("the delay must be a number of seconds, 0 or more", text)
        return delay
    if kind == "drop":
        if value is None:
            return _DROP_MOMENTS[0]
        if value not in _DROP_MOMENTS:
            raise _fail(f"drop takes one of {', '.join(_DROP_MOMENTS)}", text)
        return value
    if value is not None:
        raise _fail(f"{kind} takes no value", text)
    return None


def _parse_trigger(trigger: str, text: str) -> tuple[str, float]:
    name, sep, amount = trigger.partition("=")
    name = name.strip()
    if name not in TRIGGERS or not sep:
        raise _fail(f"the trigger must be one of {', '.join(t + '=...' for t in TRIGGERS)}", text)
    amount = amount.strip()
    if name == "rate":
        try:
            rate = float(amount)
        except ValueError:
            rate = math.nan
        if not 0.0 <= rate <= 1.0:
            raise _fail("rate must be a probability between 0 and 1", text)
        return name, rate
    if not amount.isdigit() or (name == "every" and int(amount) < 1):
        least = 1 if name == "every" else 0
        raise _fail(f"{name} must be a whole number, {least} or more", text)
    return name, float(int(amount))


def _parse_rule(text: str) -> FaultRule:
    head, at, trigger_text = text.partition("@")
    target, colon, kind_text = head.partition(":")
    target = target.strip()
    if not colon or not target:
        raise _fail("expected TARGET:KIND, e.g. status:429@every=5", text)
    if target not in fault_targets():
        raise _fail(f"the target must be one of {', '.join(fault_targets())}", text)
    kind, eq, value = kind_text.partition("=")
    kind = kind.strip()
    if kind not in FAULT_KINDS:
        raise _fail(f"the kind must be one of {', '.join(FAULT_KINDS)}", text)
    if kind == "fail" and target != FAIL_TARGET:
        raise _fail(f"fail applies to {FAIL_TARGET} only (the job it creates fails)", text)
    parsed_value = _parse_value(kind, value.strip() if eq else None, text)
    trigger: str | None = None
    amount = 0.0
    if at:
        trigger, amount = _parse_trigger(trigger_text, text)
    return FaultRule(target, kind, parsed_value, trigger, amount)


def parse_faults(text: str, *, seed: int = 0) -> FaultPlan:
    """Parse a fault spec (see the module docstring) into a plan; an empty spec means no faults.

    Raises:
        InvalidInputError: a rule breaks the grammar; the message says which and why.
    """
    rules = [_parse_rule(part.strip()) for part in text.split(",") if part.strip()]
    return FaultPlan(rules, seed=seed)
