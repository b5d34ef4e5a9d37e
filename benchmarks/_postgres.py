"""A throwaway PostgreSQL server for the tests and the workers benchmark: Debian's (or any)
server binaries, run as the ``postgres`` user when the tests run as root, on 127.0.0.1 and a
free port, in a temporary data directory that is removed afterwards.

pytest-postgresql is not used: its process fixture calls ``initdb`` and ``pg_ctl`` as the
current user, and PostgreSQL refuses to run as root (as CI does). Dropping to ``postgres``
takes ``runuser`` around each command, which is all this module adds.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
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

    def _run(self, *argv: str) -> None:
        command = [str(self.bindir / argv[0]), *argv[1:]]
        if self._as_root:
            command = ["runuser", "-u", _RUN_AS, "--", *command]
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
        with contextlib.suppress(RuntimeError, subprocess.SubprocessError):
            self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)
