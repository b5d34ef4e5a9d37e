"""Failures after a job was submitted: the job is paid for, so every such failure is a typed
``Sora2Error`` that carries its ``request_id`` (and output URLs when known) and says how to
fetch the result.

``FlowClient._paid`` wraps the part of ``generate``, ``download`` and ``resume`` that runs
after the submission, and loads this module only when something inside it fails.
"""

from __future__ import annotations

from collections.abc import Sequence

from ._exceptions import (
    JOB_NOT_FOUND,
    DownloadWriteError,
    JobFailedError,
    NotFoundError,
    Sora2Error,
    WaitTimeoutError,
)

__all__ = [
    "fetch_command",
    "in_process_hint",
    "mark_failure",
    "mark_paid",
    "resume_command",
    "sora2_command",
]


def sora2_command(
    *words: str,
    base_url: str | None = None,
    journal: str | None = None,
    trusted_hosts: Sequence[str] = (),
) -> str:
    """The shell command ``sora2 WORDS...`` against the given service and journal: every
    command a hint shows (the library's and the CLI's) is written here."""
    import shlex

    argv = ["sora2", *words]
    if base_url is not None:
        argv += ["--base-url", base_url]
    if journal is not None:
        argv += ["--journal", journal]
    for host in trusted_hosts:
        argv += ["--trust-host", host]
    return shlex.join(argv)


def resume_command(
    request_id: str | None = None,
    *,
    base_url: str | None = None,
    journal: str | None = None,
    trusted_hosts: Sequence[str] = (),
) -> str:
    """The ``sora2 resume [ID]`` that waits for a paid job (or every unfinished one) and saves
    its files where they were meant to go."""
    words = ["resume"] if request_id is None else ["resume", request_id]
    return sora2_command(*words, base_url=base_url, journal=journal, trusted_hosts=trusted_hosts)


def fetch_command(
    request_id: str, *, write_failed: bool = False, base_url: str | None = None
) -> str:
    """The shell command that gets a paid job's result: ``resume`` waits and downloads to
    where ``generate`` meant; after a failed write, ``result --out .`` saves it here instead."""
    if write_failed:
        return sora2_command("result", request_id, "--out", ".", base_url=base_url)
    return resume_command(request_id, base_url=base_url)


def in_process_hint(request_id: str) -> str:
    """How to fetch a job of a client's in-process emulator: only through that client, while
    it is open (no command can reach the emulator, which ends with the client)."""
    return (
        f"job {request_id} lives in this client's in-process emulator, which forgets it when "
        f"the client is closed; fetch it before then with client.download(client.wait("
        f"{request_id!r}), PATH) (await each with AsyncClient)"
    )


def mark_paid(
    error: Sora2Error,
    request_id: str,
    *,
    output_urls: Sequence[str] = (),
    base_url: str | None = None,
    in_process: bool = False,
) -> Sora2Error:
    """Give ``error`` the job's id, its URLs and the hint, unless it already has them.

    The hint is a command that works: ``sora2 resume``/``sora2 result`` for a service, or,
    for a job of the in-process emulator (``in_process``), the same client's calls.
    """
    if error.request_id is None:
        error.request_id = request_id
    if output_urls and not error.output_urls:
        error.output_urls = tuple(output_urls)
    if error.paid_hint is None and not _nothing_to_fetch(error):
        if in_process:
            error.paid_hint = in_process_hint(error.request_id)
        else:
            command = fetch_command(
                error.request_id,
                write_failed=isinstance(error, DownloadWriteError),
                base_url=base_url,
            )
            error.paid_hint = (
                f"job {error.request_id} is paid for; fetch the result with: {command}"
            )
    return error


def _nothing_to_fetch(error: Sora2Error) -> bool:
    """A job cancelled while queued, one that failed, or one the service no longer knows: no
    result to fetch."""
    if isinstance(error, JobFailedError):
        return True
    if isinstance(error, WaitTimeoutError):
        return error.cancelled
    return isinstance(error, NotFoundError) and error.error_code == JOB_NOT_FOUND


def mark_failure(
    exc: Sora2Error | OSError,
    request_id: str | None,
    output_urls: tuple[str, ...],
    *,
    base_url: str | None,
    in_process: bool,
) -> None:
    """A failure after a submission (``FlowClient._paid``): a ``Sora2Error`` is marked as the
    job's; an ``OSError`` (a full disk, a vanished directory) is raised again as a
    ``DownloadWriteError`` instead of escaping untyped. Without a request id (a bare URL) only
    the latter applies."""
    if isinstance(exc, Sora2Error):
        if request_id is not None:
            mark_paid(
                exc, request_id, output_urls=output_urls, base_url=base_url, in_process=in_process
            )
        return
    reason = exc.strerror or str(exc) or type(exc).__name__
    where = f": {exc.filename}" if exc.filename else ""
    error = DownloadWriteError(f"could not save the video: {reason}{where}", request_id=request_id)
    error.output_urls = output_urls
    if request_id is not None:
        mark_paid(error, request_id, base_url=base_url, in_process=in_process)
    raise error from exc
