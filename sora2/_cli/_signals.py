"""SIGTERM (a container stop, ``timeout``) handled as an interrupt with no one to ask.

By default SIGTERM kills Python at once: no resume hint, no exit code a script can read, and a
terminal left with rich's cursor hidden. While a command runs, SIGTERM raises
:class:`Terminated` instead, a ``KeyboardInterrupt``, so every path that handles Ctrl-C
handles it too (the progress display is closed, the journal keeps the job, the resume command
is printed), only asking nothing and cancelling nothing that was not asked for.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from types import FrameType

__all__ = ["Terminated", "sigterm_interrupts"]


class Terminated(KeyboardInterrupt):
    """SIGTERM arrived: stop like a Ctrl-C with no terminal, and exit 143."""


def _raise_terminated(signum: int, frame: FrameType | None) -> None:
    raise Terminated


@contextlib.contextmanager
def sigterm_interrupts() -> Iterator[None]:
    """While inside, SIGTERM raises :class:`Terminated` in the main thread (only where this
    process has SIGTERM's default action: a handler someone else set is left alone)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        yield
        return
    signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
