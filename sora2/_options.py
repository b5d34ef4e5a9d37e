"""Every default and setting of a client, defined once, and what a job may cost.

The defaults are named constants, each with its reason (video sizes and durations come from the
spec). The settings are one frozen :class:`ClientOptions`: ``with_options`` is an
``attrs.evolve`` of it, the async twin of a sync client is built from it, and a bad value is a
``ConfigurationError`` naming the setting, at construction.

A job's cost is ``base_price_usd`` per ``price_unit`` of the model document (the unofficial
``GET /v1/models/{model_id}``); a unit not in ``PRICE_UNITS`` is never guessed at. An unread
price is a warning, once per model, and the job goes on; with ``max_cost``, nothing is sent.
"""

from __future__ import annotations

import importlib
import logging
import math
import os
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Final, Literal, TypeAlias, cast

import attrs
import httpx

from ._exceptions import ConfigurationError, CostLimitError, InvalidInputError

if TYPE_CHECKING:
    from ._journal_glue import JournalStore

logger = logging.getLogger("sora2")  # sora2._transports keeps the token out of its records

__all__ = [
    "API_KEY_ENV_VARS",
    "BASE_URL_ENV_VAR",
    "DEFAULT_BATCH_CONCURRENCY",
    "DEFAULT_CONNECTION_LIMIT",
    "DEFAULT_MAX_DOWNLOAD_BYTES",
    "DEFAULT_MAX_RETRIES",
    "DEFAULT_TIMEOUT",
    "DEFAULT_WAIT_TIMEOUT",
    "DOWNLOAD_CHUNK_SIZE",
    "EMULATOR_BASE_URL",
    "EMULATOR_JOURNAL_FILE",
    "INITIAL_RETRY_DELAY",
    "JOURNAL_ENV_VAR",
    "JOURNAL_FILE",
    "JOURNAL_OUTAGE_SECONDS",
    "JOURNAL_URL_SCHEMES",
    "LEASE_ENV_VAR",
    "LEASE_SECONDS",
    "MAX_DOWNLOAD_REDIRECTS",
    "MAX_POLL_INTERVAL",
    "MAX_QUEUE_POLL_INTERVAL",
    "MAX_RETRY_AFTER",
    "MAX_RETRY_DELAY",
    "MAX_WAIT_ERRORS",
    "MIN_NEAR_END_POLL_INTERVAL",
    "MIN_POLL_INTERVAL",
    "POLL_APPROACH_FRACTION",
    "POLL_LATENCY_FRACTION",
    "POLL_START_FRACTION",
    "PRICE_FIELD",
    "PRICE_UNITS",
    "PROGRESS_EWMA_ALPHA",
    "QUEUE_POLL_INTERVAL",
    "RETRY_JITTER",
    "RUNCOMFY_HOST_SUFFIXES",
    "TRUSTED_HOSTS_ENV_VAR",
    "UNIT_FIELD",
    "ClientOptions",
    "CostEstimate",
    "JournalOption",
    "Unread",
    "check_max_cost",
    "check_price_inputs",
    "document_request",
    "estimate_from",
    "format_usd",
    "judge_cost",
    "read_document",
    "sum_known",
    "unpriced",
    "user_agent",
]

# Requests ------------------------------------------------------------------------------------
DEFAULT_TIMEOUT = httpx.Timeout(60.0, connect=10.0)
"""Per request: 10 s to connect, 60 s for each read, write and pool wait."""
DEFAULT_MAX_RETRIES = 2
"""Retries after the first attempt, for requests that are safe to retry."""
INITIAL_RETRY_DELAY = 0.5
"""Seconds before the first retry; doubles on each further retry."""
MAX_RETRY_DELAY = 8.0
"""Cap on one backoff delay, jitter included."""
RETRY_JITTER = 1.0
"""At most this many random seconds are added to each backoff, so clients do not retry in step."""
MAX_RETRY_AFTER = 60.0
"""A Retry-After longer than this is not waited out: the error is raised to the caller."""
DEFAULT_CONNECTION_LIMIT = 100
"""Connections a client keeps open and alive, and (AsyncClient) requests in flight: more wait
in the client rather than in httpcore's pool, whose bookkeeping costs its queue times its
connections on every request (encode/httpcore#1035)."""


def user_agent() -> str:
    """``sora2/<version> python-httpx/<version>``: every request says which client sent it
    (the service's logs, a support ticket), keeping httpx's own product token after ours."""
    from . import __version__

    return f"sora2/{__version__} python-httpx/{httpx.__version__}"


# Environment ---------------------------------------------------------------------------------
API_KEY_ENV_VARS = ("RUNCOMFY_API_TOKEN", "RUNCOMFY_TOKEN", "YOUR_API_TOKEN")
"""Where the API key is read from, in order: ours, the name RunComfy's own CLI reads, and the
name the service's documentation uses."""
BASE_URL_ENV_VAR = "RUNCOMFY_BASE_URL"
JOURNAL_ENV_VAR = "SORA2_JOURNAL"
TRUSTED_HOSTS_ENV_VAR = "SORA2_TRUSTED_HOSTS"
"""More hosts downloads may come from, separated by commas or spaces (for services, where no
code or command line is at hand): added to ``trusted_hosts=`` and ``--trust-host``."""

# Emulator ------------------------------------------------------------------------------------
EMULATOR_BASE_URL = "http://emulator.sora2.invalid"
"""The base URL of the in-process emulator; ``.invalid`` can never resolve to a real host."""

# Journal -------------------------------------------------------------------------------------
JOURNAL_FILE = "journal.sqlite3"
EMULATOR_JOURNAL_FILE = "journal-emulator.sqlite3"
"""Emulator jobs get their own default journal so they are never resumed against the service."""
JOURNAL_URL_SCHEMES = ("postgresql", "postgres")
"""A journal given as one of these URLs is a PostgreSQL database (the ``postgres`` extra)."""
LEASE_SECONDS = 60.0
"""How long a process's claim on following a job lasts (PostgreSQL journal) without renewal:
another process adopts the job once it has expired. Renewed every third of it."""
LEASE_ENV_VAR = "SORA2_LEASE_SECONDS"
"""Overrides ``LEASE_SECONDS`` for a PostgreSQL journal named by URL (the CLI's ``--journal``)."""
JOURNAL_OUTAGE_SECONDS = 30.0
"""How long a PostgreSQL journal retries an operation while the database is unreachable."""

# Waiting -------------------------------------------------------------------------------------
DEFAULT_WAIT_TIMEOUT = 1800.0
"""How long wait() and generate() follow a job before giving up (the job itself goes on)."""
MIN_POLL_INTERVAL = 1.0
"""Never poll more often than this, unless the job is expected to end soon (below)."""
MIN_NEAR_END_POLL_INTERVAL = 0.25
"""Once a job's processing time has been learned, it may be polled every
``POLL_LATENCY_FRACTION`` of its expected length, down to this, so that a job shorter than
``MIN_POLL_INTERVAL / POLL_LATENCY_FRACTION`` is still seen done within that fraction."""
MAX_POLL_INTERVAL = 30.0
"""Never sleep longer than this between two polls."""
QUEUE_POLL_INTERVAL = 2.0
"""While queued, seconds between polls per job ahead of this one (plus one)."""
MAX_QUEUE_POLL_INTERVAL = 15.0
POLL_LATENCY_FRACTION = 0.1
"""A poll interval never exceeds this fraction of the job's age, so completion is seen within
this fraction of the job's length."""
POLL_APPROACH_FRACTION = 0.5
"""Once the processing time has been learned, sleep this fraction of the expected remainder."""
POLL_START_FRACTION = 0.5
"""A job seen queued, then in progress, started somewhere between those two polls: its expected
end is counted from this fraction of the way in (0: the earliest possible start). The middle,
where wait() measures the processing time it learns from: anywhere else would bias it."""
PROGRESS_EWMA_ALPHA = 0.3
"""Weight of the newest completed job in the learned processing time per video second."""
MAX_WAIT_ERRORS = 5
"""wait() gives up after this many failed polls in a row (each already retried)."""

# Downloads -----------------------------------------------------------------------------------
DEFAULT_MAX_DOWNLOAD_BYTES = 1024 * 1024 * 1024
"""1 GiB: far above any video the service makes, low enough to stop a runaway stream."""
DOWNLOAD_CHUNK_SIZE = 1024 * 1024
MAX_DOWNLOAD_REDIRECTS = 5
"""A file URL may redirect (pre-signed storage URLs do); each hop is checked like the first."""
RUNCOMFY_HOST_SUFFIXES = (".runcomfy.net", ".runcomfy.com")
"""Hosts downloads may always come from, as RunComfy's own CLI allows (besides the API's own
host and the user's ``trusted_hosts``); see ``sora2._transports``."""

# Batches -------------------------------------------------------------------------------------
DEFAULT_BATCH_CONCURRENCY = 4
"""Jobs a batch keeps in flight (submitted and unfinished) unless told otherwise."""


# Settings ------------------------------------------------------------------------------------

JournalOption: TypeAlias = "JournalStore | str | os.PathLike[str] | Literal[False] | None"
"""What ``journal=`` takes."""


def _timeout(value: float | httpx.Timeout) -> httpx.Timeout:
    return value if isinstance(value, httpx.Timeout) else httpx.Timeout(value)


def _hosts(value: Iterable[str]) -> tuple[str, ...]:
    return (value,) if isinstance(value, str) else tuple(value)


def _whole(minimum: int) -> Any:
    def check(instance: object, attribute: attrs.Attribute[int], value: int) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise ConfigurationError(
                f"{attribute.name} must be a whole number >= {minimum}, not {value!r}",
                setting=attribute.name,
            )

    return check


def _wait_timeout(instance: object, attribute: attrs.Attribute[float], value: float) -> None:
    if value < 0:
        raise ConfigurationError(
            f"wait_timeout must be >= 0, not {value!r}", setting="wait_timeout"
        )


def _max_bytes(instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    if value <= 0:
        raise ConfigurationError(
            f"max_download_bytes must be > 0, not {value!r}", setting="max_download_bytes"
        )


@attrs.frozen(kw_only=True)
class ClientOptions:
    """Every setting of a client: ``Client`` and ``AsyncClient`` take each as a keyword."""

    api_key: str | None = attrs.field(default=None, repr=False)
    """Defaults to ``$RUNCOMFY_API_TOKEN``, ``$RUNCOMFY_TOKEN``, then ``$YOUR_API_TOKEN``; only
    needed by calls that talk to the service, and not at all with ``emulator=True``."""
    base_url: str | None = None
    """Defaults to ``$RUNCOMFY_BASE_URL``, then the spec's server."""
    timeout: httpx.Timeout = attrs.field(default=DEFAULT_TIMEOUT, converter=_timeout)
    """Per HTTP request (seconds, or an ``httpx.Timeout``)."""
    max_retries: int = attrs.field(default=DEFAULT_MAX_RETRIES, validator=_whole(0))
    """Retries of a request that is safe to retry (see ``sora2._retry``)."""
    journal: JournalOption = None
    """A :class:`Journal` (any ``JournalStore``) or its path or ``postgresql://`` URL; None
    for ``$SORA2_JOURNAL`` or the default file in the user data directory; False for none."""
    wait_timeout: float = attrs.field(
        default=DEFAULT_WAIT_TIMEOUT, validator=_wait_timeout, converter=float
    )
    """Default deadline of ``wait`` and ``generate``, in seconds."""
    max_download_bytes: int = attrs.field(default=DEFAULT_MAX_DOWNLOAD_BYTES, validator=_max_bytes)
    """Default size cap of each file ``download`` saves."""
    connection_limit: int = attrs.field(default=DEFAULT_CONNECTION_LIMIT, validator=_whole(1))
    """Most connections open at once (per kind: API calls, downloads), all kept alive between
    calls (httpx keeps only 20 of its 100). ``AsyncClient`` also lets at most this many
    requests be in flight; threads sharing one ``Client`` simply wait for a connection, up to
    the timeout's ``pool`` part."""
    trusted_hosts: tuple[str, ...] = attrs.field(default=(), converter=_hosts)
    """More hosts output files may be downloaded from, besides the API's own host and
    RunComfy's (``*.runcomfy.net``, ``*.runcomfy.com``): names, suffixes (``.example.com``), IP
    addresses or networks (``10.0.0.0/8``; only these let a download reach a private address).
    ``$SORA2_TRUSTED_HOSTS`` adds more. See ``docs/connections.md``."""

    @classmethod
    def pick(cls, given: Mapping[str, Any]) -> ClientOptions:
        """The settings among ``given`` (a constructor's ``locals()``), by their names here: a
        constructor's signature names each setting, and nothing else restates them."""
        return cls(**{field.name: given[field.name] for field in attrs.fields(cls)})

    def limits(self) -> httpx.Limits:
        """Every connection kept alive: closing 80 of 100 after each use is pure churn."""
        limit = self.connection_limit
        return httpx.Limits(max_connections=limit, max_keepalive_connections=limit)


# Cost --------------------------------------------------------------------------------------------

PRICE_FIELD: Final = "base_price_usd"
UNIT_FIELD: Final = "price_unit"
PRICE_UNITS: Final[Mapping[str, str]] = {"second": "per second of video", "request": "per job"}
"""The units sora2 multiplies out, as the spec's ``ModelDocument.price_unit`` documents them."""
_DIGITS: Final = 6
"""Estimates are rounded to a millionth of a dollar, so 0.1 x 3 is 0.3 and sums stay exact."""


@dataclass(frozen=True)
class Unread:
    """Why a model's price could not be read (kept so it is asked and warned about once)."""

    reason: str


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
        data = asdict(self)
        return {"model": data.pop("model"), "estimate_usd": data.pop("usd"), **data}


def format_usd(amount: float) -> str:
    """``$0.40``; amounts below a cent keep their digits (``$0.004``)."""
    if amount and abs(amount) < 0.01:
        return f"${amount:.6f}".rstrip("0")
    return f"${amount:,.2f}"


def unpriced(
    model: str, reason: str, price: float | None = None, unit: str | None = None
) -> CostEstimate:
    """The estimate of a job whose cost cannot be estimated, saying why."""
    return CostEstimate(model, None, f"cannot estimate the cost of {model}: {reason}", price, unit)


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


def estimate_from(model: str, document: Any, seconds: int | None) -> CostEstimate:
    """The cost of one job of ``model`` lasting ``seconds`` (None: unknown), priced by the
    model ``document`` (the JSON of ``GET /v1/models/{model_id}``, or ``Unread``)."""
    if isinstance(document, Unread):
        return unpriced(model, document.reason)
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
        reason = f"{UNIT_FIELD}={_short(unit)} is not a unit sora2 knows ({known})"
        return unpriced(model, reason, float(price), str(unit))
    each = f"{format_usd(price)} {PRICE_UNITS[unit]}"
    if unit == "request":
        return CostEstimate(model, round(float(price), _DIGITS), each, float(price), unit)
    if seconds is None:
        return unpriced(model, f"{each}, and the job's duration is unknown", float(price), unit)
    usd = round(float(price) * seconds, _DIGITS)
    return CostEstimate(model, usd, f"{each} x {seconds} s", float(price), unit, seconds)


def sum_known(estimates: Iterable[CostEstimate]) -> tuple[float, int]:
    """The total of the known estimates and how many were unknown."""
    usd = [found.usd for found in estimates]
    return round(sum(u for u in usd if u is not None), _DIGITS), usd.count(None)


def document_request(model_id: str) -> dict[str, Any] | None:
    """``httpx`` request keywords of the model's document operation, from its generated
    module; None when the spec gives the model no document operation."""
    from ._operations import operation_module_name
    from ._spec import model

    document = model(model_id).document
    if document is None:
        return None
    module = importlib.import_module(operation_module_name(document))
    return cast("dict[str, Any]", module.build_request_kwargs())


def read_document(raw: httpx.Response) -> Any:
    """The document of a ``GET /v1/models/{model_id}`` answer, or ``Unread`` saying why not;
    ``AuthenticationError`` on 401: every request would be refused, so it is said now."""
    if raw.status_code == 401:
        from ._errors import error_for_status

        raise error_for_status(raw, request_id=None)
    if raw.status_code != 200:
        return Unread(f"GET {raw.request.url.path} answered {raw.status_code} (unofficial route)")
    from ._operations import json_body  # every answer's one decoding

    ok, document = json_body(raw)
    if not ok:
        return Unread(f"GET {raw.request.url.path} answered a body that is not JSON")
    return document


def check_max_cost(max_cost: float | None) -> None:
    """A budget must be a finite number of dollars >= 0."""
    if max_cost is not None and not _is_price(max_cost):
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
    from ._inputs import input_validator

    body = {k: v for k, v in inputs.items() if v is not None}
    for error in input_validator(model_id).iter_errors(body):
        if error.validator == "required":
            continue
        name = str(error.path[0]) if error.path else "body"
        raise InvalidInputError(
            f"{name}={body.get(name)!r} is not allowed: {error.message}", field=name
        )
