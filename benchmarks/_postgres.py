"""A throwaway PostgreSQL server for the tests and the workers benchmark: Debian's (or any)
server binaries, run as the ``postgres`` user when the tests run as root, on 127.0.0.1 and a
free port, in a temporary data directory that is removed afterwards.

pytest-postgresql is not used: its process fixture calls ``initdb`` and ``pg_ctl`` as the
current user, and PostgreSQL refuses to run as root (as CI does). Dropping to ``postgres``
takes ``runuser`` around each command.

The server outlives no test run, even one killed by SIGKILL: a watchdog process, started with
the server's directory, waits for end-of-file on a pipe only the starting process holds. The
kernel closes that pipe when the process dies, however it dies; ``close()`` closes it on purpose.
Either way the watchdog stops the server and removes its files. (``PR_SET_PDEATHSIG`` would not
do: the setting is dropped by ``runuser``'s change of user and by ``pg_ctl``'s fork.)
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

__all__ = ["HOW_TO_RUN", "PostgresServer", "find_bindir"]

HOW_TO_RUN = (
    "PostgreSQL server binaries not found (pg_config --bindir, or $SORA2_PG_BINDIR): "
    "install PostgreSQL 15 (apt-get install postgresql) to run the PostgreSQL tests"
)
_RUN_AS = "postgres"


def find_bindir() -> Path | None:
    """Where ``initdb`` and ``pg_ctl`` are: ``$SORA2_PG_BINDIR``, else ``pg_config --bindir``."""
    candidates: list[str] = []
    if os.environ.get("SORA2_PG_BINDIR"):
        candidates.append(os.environ["SORA2_PG_BINDIR"])
    pg_config = shutil.which("pg_config")
    if pg_config is not None:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            found = subprocess.run(
                [pg_config, "--bindir"], capture_output=True, text=True, check=True, timeout=10
            )
            candidates.append(found.stdout.strip())
    for candidate in candidates:
        directory = Path(candidate)
        if (directory / "initdb").is_file() and (directory / "pg_ctl").is_file():
            return directory
    return None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


class PostgresServer:
    """One server: ``start()``, ``stop()`` (the data stays), ``start()`` again, ``close()``."""

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.port = _free_port()
        self.root = Path(tempfile.mkdtemp(prefix="sora2-pg-"))
        self.data = self.root / "data"
        self.sockets = self.root / "sockets"
        self.log = self.root / "server.log"
        self._as_root = os.geteuid() == 0
        stop = self._command("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        self._watchdog = _start_watchdog(self.root, stop)
        if self._as_root:
            self.root.chmod(0o755)
            self.sockets.mkdir()
            user = pwd.getpwnam(_RUN_AS)
            for path in (self.root, self.sockets):
                os.chown(path, user.pw_uid, user.pw_gid)
        else:
            self.sockets.mkdir()

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _command(self, *argv: str) -> list[str]:
        """A server program's command line, as ``postgres`` when the tests run as root."""
        command = [str(self.bindir / argv[0]), *argv[1:]]
        return ["runuser", "-u", _RUN_AS, "--", *command] if self._as_root else command

    def _run(self, *argv: str) -> None:
        command = self._command(*argv)
        done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
        if done.returncode != 0:
            log = self.log.read_text(errors="replace") if self.log.exists() else ""
            raise RuntimeError(f"{' '.join(command)} failed: {done.stderr}{done.stdout}\n{log}")

    def init(self) -> None:
        self._run(
            "initdb",
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-sync",
        )

    def start(self, extra: str = "") -> None:
        """Start (again); ``extra`` adds server options (``-c log_statement=all``)."""
        options = (
            f"-h 127.0.0.1 -p {self.port} -k {self.sockets} -c fsync=off "
            f"-c synchronous_commit=off -c full_page_writes=off -c max_connections=200 {extra}"
        )
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "start")

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def close(self) -> None:
        """Stop the server and remove its files, by the watchdog's path: the one a killed test
        run takes too."""
        assert self._watchdog.stdin is not None
        self._watchdog.stdin.close()
        self._watchdog.wait(timeout=180)


def _start_watchdog(root: Path, stop: list[str]) -> subprocess.Popen[bytes]:
    """This file run as a script (``-I``: without benchmarks/ on its path), in a session of its
    own so that a Ctrl-C to the test run's process group does not end it before its work."""
    return subprocess.Popen(
        [sys.executable, "-I", __file__, str(root), *stop],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def _watch(root: Path, stop: list[str]) -> None:
    """The watchdog: at end-of-file on stdin (its starter closed it, or died), stop the server
    (a stopped one makes ``pg_ctl`` fail, harmlessly) and remove its directory."""
    sys.stdin.buffer.read()
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        subprocess.run(stop, capture_output=True, timeout=120, check=False)
    shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    _watch(Path(sys.argv[1]), sys.argv[2:])
