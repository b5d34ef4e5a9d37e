"""The progress display: width-aware on a terminal, plain lines in a log, silent with -q."""

from __future__ import annotations

import io
import re
import threading
from pathlib import Path

from sora2._cli._progress import Progress, format_bytes
from sora2._types import JobStatus

from .helpers import FakeClock, documented_prompt, run

_ESCAPE = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
LONG_ID = "3f1c2a9e-0b7d-4e8a-9c61-5d2f7a8b9e10"


def status(state: str, position: int | None = None, request_id: str = "req-1") -> JobStatus:
    return JobStatus(request_id=request_id, state=state, queue_position=position, raw=None)  # type: ignore[arg-type]


def frames(text: str) -> list[str]:
    """What a terminal shows after each redraw: the text between carriage returns."""
    return [_ESCAPE.sub("", frame).rstrip("\n") for frame in text.split("\r")]


class TestLog:
    def test_log_gets_one_line_per_change(self) -> None:
        """Off a terminal, each new state or queue position is one plain line; repeats are not."""
        stream, clock = io.StringIO(), FakeClock()
        progress = Progress(stream, tty=False, clock=clock.monotonic)
        progress.submitted("req-1")
        progress.start()
        progress.update(status("in_queue", 2))
        clock.advance(3)
        progress.update(status("in_queue", 2))
        progress.update(status("in_queue", 1))
        clock.advance(62)
        progress.update(status("in_progress"))
        progress.close()
        assert [
            "req-1  in_queue  queue position 2  elapsed 0:00",
            "req-1  in_queue  queue position 1  elapsed 0:03",
            "req-1  in_progress  elapsed 1:05",
        ] == stream.getvalue().splitlines()
        assert "\r" not in stream.getvalue()

    def test_a_download_is_two_lines_in_a_log(self) -> None:
        """Off a terminal a download prints its start and its end, not every chunk."""
        stream, clock = io.StringIO(), FakeClock()
        progress = Progress(stream, tty=False, clock=clock.monotonic)
        progress.update(status("completed"))
        for received in (1_000_000, 2_000_000, 3_000_000, 4_200_000):
            progress.download(received, 4_200_000)
        lines = stream.getvalue().splitlines()
        assert 3 == len(lines)
        assert lines[1].endswith("downloading 1.0 MB of 4.2 MB")
        assert lines[2].endswith("downloaded 4.2 MB of 4.2 MB")

    def test_tick_is_silent_off_a_terminal(self) -> None:
        """The elapsed-time tick writes nothing to a log."""
        stream = io.StringIO()
        progress = Progress(stream, tty=False, clock=FakeClock().monotonic)
        progress.submitted("req-1")
        progress.start()
        progress.tick()
        assert "" == stream.getvalue()


class TestTerminal:
    def test_a_narrow_terminal_keeps_one_line(self) -> None:
        """In 50 columns every redraw fits the width and replaces the last: no wrapped leftovers,
        one line ended once at close."""
        stream, clock = io.StringIO(), FakeClock()
        progress = Progress(stream, tty=True, clock=clock.monotonic, tick_interval=0, width=50)
        progress.submitted(LONG_ID)
        progress.start()
        for position in (3, 2, 1):
            clock.advance(4)
            progress.update(status("in_queue", position, LONG_ID))
        progress.update(status("in_progress", None, LONG_ID))
        progress.update(status("completed", None, LONG_ID))
        for received in range(0, 5_000_001, 500_000):
            progress.download(received, 5_000_000)
        progress.close()
        text = stream.getvalue()
        shown = frames(text)
        assert len(shown) > 10
        assert all(len(frame) <= 50 for frame in shown), shown
        assert 1 == text.count("\n")
        assert shown[-1].startswith("completed  elapsed 0:12  downloaded 5.0 MB of 5")
        assert any(f.startswith("in_queue  queue position 1  elapsed 0:12") for f in shown)
        assert shown[-1].endswith("…")

    def test_a_wide_terminal_shows_state_position_elapsed_and_bytes(self) -> None:
        """With room, the line holds the state, queue position, elapsed time, bytes and total."""
        stream, clock = io.StringIO(), FakeClock()
        progress = Progress(stream, tty=True, clock=clock.monotonic, tick_interval=0, width=200)
        progress.submitted("req-1")
        progress.start()
        clock.advance(7)
        progress.update(status("in_queue", 2))
        assert "in_queue  queue position 2  elapsed 0:07  req-1" == frames(stream.getvalue())[-1]
        progress.update(status("completed"))
        progress.download(1_500_000, 3_000_000)
        assert frames(stream.getvalue())[-1].endswith("downloading 1.5 MB of 3.0 MB  req-1")
        progress.close()

    def test_the_redraw_thread_stops_on_exit(self) -> None:
        """Leaving the context stops rich's redraw thread and ends the line."""
        stream = io.StringIO()
        with Progress(stream, tty=True, clock=FakeClock().monotonic, tick_interval=60) as p:
            p.submitted("req-1")
            p.start()
            assert any(type(t).__name__ == "_RefreshThread" for t in threading.enumerate())
        assert not any(type(t).__name__ == "_RefreshThread" for t in threading.enumerate())
        assert stream.getvalue().endswith("\n") or stream.getvalue().endswith("\x1b[?25h")

    def test_quiet_prints_nothing(self) -> None:
        """With quiet, neither a terminal nor a log gets anything."""
        for tty in (True, False):
            stream = io.StringIO()
            with Progress(stream, tty=tty, quiet=True, tick_interval=0) as progress:
                progress.submitted("req-1")
                progress.start()
                progress.update(status("in_progress"))
                progress.download(10, 10)
            assert "" == stream.getvalue()


def test_format_bytes() -> None:
    """Sizes read in decimal units, as download tools show them."""
    assert ["999 bytes", "1.5 kB", "4.2 MB", "1.0 GB"] == [
        format_bytes(n) for n in (999, 1_500, 4_200_000, 1_000_000_000)
    ]


def test_generate_quiet_shows_no_progress(fake_time: FakeClock, isolated: Path) -> None:
    """`sora2 generate -q` prints the id and the path, and no progress line on stderr."""
    loud = run("generate", "--emulator", documented_prompt())
    quiet = run("generate", "--emulator", documented_prompt(), "-q")
    assert 0 == loud.exit_code == quiet.exit_code
    assert "in_progress" in loud.stderr and "downloaded" in loud.stderr
    assert "" == quiet.stderr
