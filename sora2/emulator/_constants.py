"""The emulator's defaults in one place, so ``create_app``, the CLI and the docs agree.

Nothing here names a video size or duration: those come from the spec at run time.
"""

from __future__ import annotations

__all__ = [
    "AUDIO_SAMPLE_RATE",
    "DEFAULT_HOST",
    "DEFAULT_MAX_REQUESTS",
    "DEFAULT_OUTPUTS",
    "DEFAULT_PORT",
    "DEFAULT_RETRY_AFTER",
    "DEFAULT_SLOW_DELAY",
    "DEFAULT_SPEED",
    "DEFAULT_TTL",
    "DEFAULT_WORKERS",
    "FAILURE_MESSAGE",
    "MAX_BODY_BYTES",
    "MAX_MESSAGE_CHARS",
    "OUTPUT_LIST_LENGTH",
    "QUEUE_BASE_SECONDS",
    "QUEUE_PER_VIDEO_SECOND",
    "RUN_BASE_SECONDS",
    "RUN_PER_VIDEO_SECOND",
    "SPEC_PATH",
    "VIDEO_CACHE_SIZE",
    "VIDEO_FPS",
    "VIDEO_PATH_PREFIX",
]

# Lifecycle -----------------------------------------------------------------------------------
DEFAULT_SPEED = 1.0
"""Every phase duration is divided by the speed: 2.0 runs twice as fast, 0.5 twice as slow."""
DEFAULT_WORKERS = 2
"""Jobs that run at once; later ones wait in the queue with a real queue_position."""
QUEUE_BASE_SECONDS = 0.5
QUEUE_PER_VIDEO_SECOND = 0.125
"""The least time a job spends in_queue: base + per-second x requested seconds (before speed)."""
RUN_BASE_SECONDS = 1.0
RUN_PER_VIDEO_SECOND = 1.0
"""Time in_progress: base + per-second x requested seconds (before speed). At the default speed
the shortest video the spec allows is done in a few seconds, inside the demo budget."""

# State ---------------------------------------------------------------------------------------
DEFAULT_MAX_REQUESTS = 10_000
"""Requests (jobs) held in memory; the oldest finished ones are evicted first."""
DEFAULT_TTL = 3600.0
"""Seconds of the emulator's clock that a finished request stays readable before it expires."""

# HTTP ----------------------------------------------------------------------------------------
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
MAX_BODY_BYTES = 1 << 20
"""A submit body larger than this gets 413 (the spec's example names the same limit)."""
MAX_MESSAGE_CHARS = 200
"""Validation messages quote the bad value; longer ones are cut so an error stays small."""
SPEC_PATH = "/openapi.json"
"""Where the emulator serves the spec it implements (no token needed)."""
VIDEO_PATH_PREFIX = "/emulator/outputs"
"""Outputs are served under this path without the bearer token, as a CDN would."""

# Faults --------------------------------------------------------------------------------------
DEFAULT_RETRY_AFTER = 1
"""Retry-After (seconds) of an injected 429 or 503 unless the fault spec gives one."""
DEFAULT_SLOW_DELAY = 1.0
"""Seconds an injected ``slow`` fault holds a response unless the fault spec gives one."""

# Outputs -------------------------------------------------------------------------------------
DEFAULT_OUTPUTS = "video"
"""The output fields a completed job fills by default: what the model page says it fills."""
OUTPUT_LIST_LENGTH = 2
"""URLs in an array output field (``images``, ``videos``) of an emulated job."""
FAILURE_MESSAGE = "The job failed (injected by the emulator's fail fault)."
"""The ``error.message`` of a job failed by a ``submit:fail`` fault."""

# Video ---------------------------------------------------------------------------------------
VIDEO_FPS = 10
"""Low on purpose: the longest, largest clip the spec allows encodes in well under a second."""
AUDIO_SAMPLE_RATE = 24_000
VIDEO_CACHE_SIZE = 16
"""Encoded clips kept in memory, keyed by (width, height, seconds); least recently used go first."""
