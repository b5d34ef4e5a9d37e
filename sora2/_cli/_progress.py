"""The progress display of ``generate`` and ``resume`` on stderr.

On a terminal it is one line kept up to date by ``rich``: cut to the terminal's width (so a
narrow or resized terminal never collects wrapped copies), redrawn every second so the elapsed
time moves, showing the job's state, its queue position, the elapsed time and, while the video
downloads, the bytes received and the total. Anywhere else (a pipe, a CI log) it prints one
plain line per change: a state, a queue position, the start and the end of a download. With
``-q`` it prints nothing. ``rich`` is imported only when a terminal needs it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TextIO

from .._types import IN_QUEUE

if TYPE_CHECKING:
    from .._types import JobStatus

__all__ = ["Progress", "format_bytes", "format_elapsed"]


def format_elapsed(seconds: float) -> str:
    """``0:07``, ``2:05``, ``1:02:05``: the elapsed time as a clock shows it."""
    whole = max(0, int(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}:{minutes:02d}:{secs:02d}"
    return f"{minutes}:{secs:02d}"


def format_bytes(size: int) -> str:
    """``512 bytes``, ``3.2 MB``: decimal units, as download tools show them."""
    for unit in ("bytes", "kB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size} {unit}" if unit == "bytes" else f"{size:.1f} {unit}"
        size = size / 1000  # type: ignore[assignment]
    raise AssertionError("unreachable")  # pragma: no cover


class Progress:
    """A job's state, queue position, elapsed time and download on stderr.

    Args:
        stream: where to draw (stderr).
        tty: whether ``stream`` is a terminal (default: ask it).
        clock: the elapsed time's clock (tests pass a fake one).
        tick_interval: seconds between redraws on a terminal; 0 redraws only on a change.
        quiet: print nothing at all (``-q``).
        width: the terminal's width (default: rich asks the terminal, on every redraw).
    """

    def __init__(
        self,
        stream: TextIO,
        *,
        tty: bool | None = None,
        clock: Callable[[], float] = time.monotonic,
        tick_interval: float = 1.0,
        quiet: bool = False,
        width: int | None = None,
    ) -> None:
        self._stream = stream
        self._tty = _isatty(stream) if tty is None else tty
        self._clock = clock
        self._tick_interval = tick_interval
        self._quiet = quiet
        self._width = width
        self._started = clock()
        self.request_id: str | None = None
        """The job shown (the last one, for ``resume``), or None before the submit."""
        self.state: str | None = None
        """The last state reported, or None before the first update."""
        self._queue_position: int | None = None
        self._received: int | None = None
        self._total: int | None = None
        self._last_printed: tuple[Any, ...] | None = None
        self._lock = threading.RLock()
        self._live: Any = None
        self._closed = False

    def submitted(self, request_id: str, state: str = IN_QUEUE) -> None:
        """Remember the job (queued until a poll says otherwise), showing nothing yet."""
        self.request_id = request_id
        self.state = state

    def start(self) -> None:
        """Start the terminal line; a log gets its first line from the first poll instead."""
        if self._tty and not self._quiet:
            self._ensure_live()

    def update(self, status: JobStatus) -> None:
        """``on_update`` hook of ``Client.wait``: show the new state."""
        with self._lock:
            if self.request_id != status.request_id and status.request_id:
                # resume: the next job; its download starts from nothing.
                self._received = self._total = None
                self._started = self._clock()
            self.request_id = status.request_id or self.request_id
            self.state = str(status.state)
            self._queue_position = status.queue_position
        self._render()

    def download(self, received: int, total: int | None) -> None:
        """``on_progress`` hook of ``Client.download``: bytes received so far, of ``total``."""
        with self._lock:
            first = self._received is None
            self._received, self._total = received, total
            done = total is not None and received >= total
        if self._tty or first or done:
            self._render()

    def line(self) -> str:
        """The progress as one line of a log: the job's id first, then what changed."""
        return "  ".join([self.request_id or "-", *self._parts()])

    def terminal_line(self) -> str:
        """The progress on a terminal, which cuts it to its width: what changes first, the id
        (already printed on stdout) last, so a narrow terminal still shows the state."""
        return "  ".join([*self._parts(), self.request_id or "-"])

    def _parts(self) -> list[str]:
        parts = [self.state or "submitting"]
        if self._queue_position is not None and self.state == IN_QUEUE:
            parts.append(f"queue position {self._queue_position}")
        parts.append(f"elapsed {format_elapsed(self._clock() - self._started)}")
        if self._received is not None:
            total = f" of {format_bytes(self._total)}" if self._total is not None else ""
            verb = (
                "downloaded"
                if self._total is not None and self._received >= self._total
                else "downloading"
            )
            parts.append(f"{verb} {format_bytes(self._received)}{total}")
        return parts

    def _render(self) -> None:
        if self._quiet or self._closed:
            return
        if self._tty:
            self._ensure_live().refresh()
            return
        with self._lock:
            key = (self.state, self._queue_position, self._received is None, self._done())
            if key == self._last_printed:
                return
            self._last_printed = key
            self._stream.write(self.line() + "\n")
            self._stream.flush()

    def _done(self) -> bool:
        return self._total is not None and (self._received or 0) >= self._total

    def _ensure_live(self) -> Any:
        with self._lock:
            if self._live is None:
                from rich.console import Console
                from rich.live import Live
                from rich.text import Text

                console = Console(
                    file=self._stream,
                    force_terminal=True,
                    width=self._width,
                    color_system=None,
                    highlight=False,
                )
                self._live = Live(
                    get_renderable=lambda: Text(
                        self.terminal_line(), no_wrap=True, overflow="ellipsis"
                    ),
                    console=console,
                    auto_refresh=self._tick_interval > 0,
                    refresh_per_second=1 / self._tick_interval if self._tick_interval > 0 else 1,
                    transient=False,
                    redirect_stdout=False,
                    redirect_stderr=False,
                )
                self._live.start()
            return self._live

    def tick(self) -> None:
        """Redraw the terminal line so the elapsed time moves; a no-op off a terminal."""
        if self._tty and self._live is not None and not self._closed:
            self._live.refresh()

    def close(self) -> None:
        """Stop redrawing and end the terminal line (idempotent)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            live, self._live = self._live, None
        if live is not None:
            thread = getattr(live, "_refresh_thread", None)
            live.stop()
            if isinstance(thread, threading.Thread):
                thread.join()  # woken by stop(): no redraw after close

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
