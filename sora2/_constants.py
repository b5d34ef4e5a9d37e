"""Every default of the client in one place, so constructors and docs point at one name.

Nothing here names a video size or duration: those come from the spec via ``sora2._inputs``.
"""

from __future__ import annotations

import httpx

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
    "PROGRESS_EWMA_ALPHA",
    "QUEUE_POLL_INTERVAL",
    "RETRY_JITTER",
    "RUNCOMFY_HOST_SUFFIXES",
    "TRUSTED_HOSTS_ENV_VAR",
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
"""Connections a client keeps open, all of them kept alive, and (AsyncClient) requests in
flight at once: more wait their turn in the client rather than in httpcore's pool, whose
bookkeeping costs its queue times its connections on every request (encode/httpcore#1035).
httpx's own default is 100 connections, of which only 20 are kept alive."""

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
because that is where wait() measures the processing time it learns from; counting from
anywhere else would expect every job to end early or late by the difference."""
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
host and the user's ``trusted_hosts``); see ``sora2._hosts``."""

# Batches -------------------------------------------------------------------------------------
DEFAULT_BATCH_CONCURRENCY = 4
"""Jobs a batch keeps in flight (submitted and unfinished) unless told otherwise."""
