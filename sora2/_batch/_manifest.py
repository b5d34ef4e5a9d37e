"""``DIR/manifest.jsonl``: one line per input row, rewritten atomically whenever a row changes.

The manifest is how a re-run knows what was already paid for: a row's ``request_id`` is written
the moment the service gives it, before the job is waited for. Each rewrite goes to a temporary
file beside the manifest and is moved over it with ``os.replace``, so a reader (or a re-run after
SIGKILL) sees the old manifest or the new one, never half of one. Each row's line is kept
serialized and only a changed row is serialized again, so a rewrite costs one join and one write.
A running batch writes through ``ManifestWriter``, so the event loop never waits for the disk.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Final

from .._exceptions import ConfigurationError
from .._threads import run_in_worker
from .._types import CANCELLED, COMPLETED, FAILED, GONE

__all__ = [
    "INVALID",
    "MANIFEST_NAME",
    "PENDING",
    "ROW_STATES",
    "BatchRow",
    "Manifest",
    "ManifestWriter",
]

MANIFEST_NAME: Final = "manifest.jsonl"
INVALID: Final = "invalid"
PENDING: Final = "pending"
ROW_STATES: Final = (COMPLETED, FAILED, INVALID, CANCELLED, GONE, PENDING)
"""A row's state in the manifest (not a job state: ``pending`` also means "not submitted")."""


@dataclass
class BatchRow:
    """One row of a batch and what became of it: a line of the manifest.

    Attributes:
        row: the line of the input file the row starts on.
        key: the row's identity across runs (its checked input and name).
        name: the ``name`` the row gave its files, if any.
        input: the row's checked input, only the properties it gave.
        request_id: the job's id once submitted (then never submitted again).
        state: ``completed``, ``failed``, ``invalid``, ``cancelled``, ``gone`` or ``pending``.
        job_state: the last state the service reported for the job.
        outputs: the saved files.
        error: why the row is not completed, if it is not.
        submit_unknown: a submit was sent and no answer recorded (set just before sending,
            cleared by the answer): the process was killed mid-submit, or the connection
            failed after the request went out. The job may exist, so such a row is not
            submitted again unless asked (``resubmit_unknown``): that could pay twice.
        previous_request_ids: ids of this row's jobs that were cancelled before they ran.
        model: the model the row chose, or None for the spec's default model.
    """

    row: int
    key: str
    name: str | None
    input: dict[str, Any]
    request_id: str | None = None
    state: str = PENDING
    job_state: str | None = None
    outputs: list[str] = field(default_factory=list)
    error: str | None = None
    submit_unknown: bool = False
    previous_request_ids: list[str] = field(default_factory=list)
    model: str | None = None

    def to_dict(self) -> dict[str, Any]:
        found = {f.name: getattr(self, f.name) for f in fields(self)}
        if found["model"] is None:
            del found["model"]  # the default model: the line a manifest always had
        return found

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BatchRow:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


class Manifest:
    """The rows of one output directory, in input order, and their file."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.path = directory / MANIFEST_NAME
        self._rows: dict[str, BatchRow] = {}
        self._lines: dict[str, str] = {}

    @classmethod
    def read(cls, directory: Path) -> Manifest:
        """The manifest of ``directory``; empty when there is none yet."""
        manifest = cls(directory)
        try:
            text = manifest.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return manifest
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                row = BatchRow.from_dict(json.loads(line))
            except (ValueError, TypeError) as exc:
                raise ConfigurationError(
                    f"{manifest.path} line {number} is not a manifest row ({exc}); "
                    "fix or remove it (it may hold the id of a paid job)"
                ) from None
            manifest._rows[row.key] = row
        return manifest

    def get(self, key: str) -> BatchRow | None:
        return self._rows.get(key)

    def replace_rows(self, rows: Iterable[BatchRow]) -> None:
        """Set the rows, in order; rows of earlier runs that hold a job id are kept at the end,
        so an id that was paid for is never dropped from the manifest."""
        ordered = {row.key: row for row in rows}
        for key, old in self._rows.items():
            if key not in ordered and (old.request_id or old.previous_request_ids):
                ordered[key] = old
        self._rows = ordered
        self._lines = {}

    def __iter__(self) -> Iterator[BatchRow]:
        return iter(self._rows.values())

    def __len__(self) -> int:
        return len(self._rows)

    def stale(self, row: BatchRow) -> None:
        """``row`` changed: serialize it again at the next rendering."""
        self._lines.pop(row.key, None)

    def changed(self, row: BatchRow) -> None:
        """Write the manifest again because ``row`` changed."""
        self.stale(row)
        self.write()

    def render(self) -> str:
        """The file's text; only rows changed since the last rendering are serialized again."""
        parts: list[str] = []
        for key, row in self._rows.items():
            line = self._lines.get(key)
            if line is None:
                line = self._lines[key] = json.dumps(row.to_dict(), ensure_ascii=False, default=str)
            parts.append(line)
        return "\n".join(parts) + ("\n" if parts else "")

    def write(self) -> None:
        """Rewrite the file atomically (temporary file + ``os.replace``)."""
        self.write_text(self.render())

    def write_text(self, text: str) -> None:
        """Replace the file with ``text`` atomically (blocking: a worker thread's job)."""
        self.directory.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_name(f".{MANIFEST_NAME}.{secrets.token_hex(4)}.tmp")
        try:
            with open(temporary, "w", encoding="utf-8") as handle:
                handle.write(text)
            os.replace(temporary, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                temporary.unlink()
            raise

    def sync(self) -> None:
        """fsync the manifest and its directory (at the end of a run: power-loss safety)."""
        with contextlib.suppress(OSError):
            fd = os.open(self.path, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
            dir_fd = os.open(self.directory, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)


class ManifestWriter:
    """Writes a manifest from the event loop without blocking it.

    The text is rendered on the loop, where the rows change, and written in a worker thread,
    one write at a time; callers that arrive during a write share the next one, so a burst of
    changes costs two writes, not one each.
    """

    def __init__(self, manifest: Manifest) -> None:
        import anyio

        self.manifest = manifest
        self._lock = anyio.Lock()
        self._asked = 0
        self._written = 0

    async def save(self, row: BatchRow | None = None) -> None:
        """Return once the file holds every change made before the call (``row``: the row
        that changed)."""
        if row is not None:
            self.manifest.stale(row)
        self._asked += 1
        wanted = self._asked
        async with self._lock:
            if self._written >= wanted:
                return  # a write that began after this call has carried it
            covered = self._asked
            await run_in_worker(self.manifest.write_text, self.manifest.render())
            self._written = covered
