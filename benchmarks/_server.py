"""The emulator in a process of its own, with a line-based control channel on stdin/stdout.

Benchmarks measure clients, so the server must not share their interpreter: its work would
land on the client's GIL and in its memory. The parent starts ``python -m benchmarks._server``,
reads the base URL from the first line, and asks for numbers the emulator keeps:

* ``stats``: the emulator's counters (``EmulatorStats.snapshot()``);
* ``job ID``: one job's emulator-side timestamps, on the emulator's clock (``time.monotonic``,
  which is system-wide on Linux, so the parent can compare it with its own);
* ``reset``: forget every job and zero the counters.

End of input stops the server. Fault injection stays off (no faults are configured).

Nagle: asyncio turns on TCP_NODELAY only for sockets whose protocol is IPPROTO_TCP, and a socket
made with ``socket.socket(AF_INET, SOCK_STREAM)`` says 0. Over such a listening socket every
response that uvicorn writes in two pieces (head, then body) waits for the client's delayed
ACK: about 40 ms per call on Linux. When ``sora2.emulator``'s ``bind()`` still makes such a
socket, this module serves the same app with ``make_server`` on a socket that has TCP_NODELAY
set, says so in its first line (``nagle_workaround``), and the runner notes it under the table
(``NOTICES``).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from types import TracebackType
from typing import Any

from ._proc import REPO_ROOT, child_env, python_command

__all__ = ["BENCH_TOKEN", "NAGLE_NOTE", "NOTICES", "EmulatorProcess", "bind_sets_nodelay"]

BENCH_TOKEN = "bench-token"
"""The emulator accepts any non-empty token; this one is a placeholder, not a secret."""

NAGLE_NOTE = (
    "sora2.emulator's bind() makes a socket without TCP_NODELAY (protocol 0), which costs "
    "~40 ms per call (Nagle + delayed ACK); this run served the emulator on a TCP_NODELAY socket"
)
NOTICES: set[str] = set()
"""What this process\'s servers had to work around; the runner prints each once."""


class EmulatorProcess:
    """``with EmulatorProcess(speed=..., workers=...) as server: server.url``."""

    def __init__(self, *, speed: float = 1.0, workers: int = 2, max_requests: int = 10_000):
        self._args = [
            "--speed",
            repr(speed),
            "--workers",
            str(workers),
            "--max-requests",
            str(max_requests),
        ]
        self._process: subprocess.Popen[str] | None = None
        self.url = ""
        self.nagle_workaround = False

    def __enter__(self) -> EmulatorProcess:
        self._process = subprocess.Popen(
            python_command("benchmarks._server", *self._args),
            env=child_env(),
            cwd=REPO_ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        hello = self._read()
        self.url = hello["url"]
        self.nagle_workaround = bool(hello["nagle_workaround"])
        if self.nagle_workaround:
            NOTICES.add(NAGLE_NOTE)
        return self

    def _read(self) -> dict[str, Any]:
        assert self._process is not None and self._process.stdout is not None
        line = self._process.stdout.readline()
        if not line:
            raise RuntimeError(f"the emulator process exited ({self._process.poll()})")
        answer: dict[str, Any] = json.loads(line)
        return answer

    def ask(self, command: str) -> dict[str, Any]:
        assert self._process is not None and self._process.stdin is not None
        self._process.stdin.write(command + "\n")
        self._process.stdin.flush()
        return self._read()

    def stats(self) -> dict[str, Any]:
        return self.ask("stats")

    def job(self, request_id: str) -> dict[str, Any]:
        return self.ask(f"job {request_id}")

    def reset(self) -> None:
        self.ask("reset")

    @property
    def pid(self) -> int:
        assert self._process is not None
        return self._process.pid

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        assert process.stdin is not None
        process.stdin.close()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()


def bind_sets_nodelay() -> bool:
    """Whether connections accepted on ``sora2.emulator``'s socket get TCP_NODELAY."""
    from sora2.emulator._serve import bind

    sock, _ = bind("127.0.0.1", 0)
    with sock:
        if sock.proto == socket.IPPROTO_TCP:
            return True  # asyncio sets TCP_NODELAY on every accepted connection
        return bool(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))  # inherited


@contextlib.contextmanager
def _serve_nodelay(app: Any) -> Iterator[str]:
    """``sora2.emulator.serve`` on a listening socket with TCP_NODELAY (see the docstring)."""
    from sora2.emulator._serve import make_server

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(1024)
    server = make_server(app)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the emulator server did not start")
            time.sleep(0.01)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(30)
        sock.close()


def _serve(args: argparse.Namespace) -> None:
    from sora2.emulator import create_app, serve

    app = create_app(speed=args.speed, workers=args.workers, max_requests=args.max_requests)
    workaround = not bind_sets_nodelay()
    server = _serve_nodelay(app) if workaround else serve(app, host="127.0.0.1", port=0)

    def reply(value: dict[str, Any]) -> None:
        sys.stdout.write(json.dumps(value) + "\n")
        sys.stdout.flush()

    with server as url:
        reply({"url": url, "nagle_workaround": workaround})
        for line in sys.stdin:
            command, _, argument = line.strip().partition(" ")
            if command == "stats":
                snapshot = app.stats.snapshot()
                reply(
                    {key: {str(k): v for k, v in found.items()} for key, found in snapshot.items()}
                )
            elif command == "job":
                view = app.job(argument)
                reply(
                    {
                        "found": view is not None,
                        "state": view.state if view else None,
                        "submitted_at": view.submitted_at if view else None,
                        "started_at": view.started_at if view else None,
                        "finished_at": view.finished_at if view else None,
                        "now": app.clock(),
                    }
                )
            elif command == "reset":
                app.reset()
                reply({"ok": True})
            else:
                reply({"error": f"unknown command {command!r}"})


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks._server")
    parser.add_argument("--speed", type=float, default=1.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--max-requests", type=int, default=10_000)
    _serve(parser.parse_args())


if __name__ == "__main__":
    main()
