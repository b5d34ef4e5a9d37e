"""The ``sora2`` command line: its entry point, and SIGTERM handled like Ctrl-C.

Subcommands live in their own modules and are imported only when invoked, so ``sora2 --help``
and ``sora2 generate`` never pay for the emulator's video stack, the contract checker or the
journal's commands.

By default SIGTERM (a container stop, ``timeout``) kills Python at once: no resume hint, no exit
code a script can read, and a terminal left with rich's cursor hidden. While a command runs,
SIGTERM raises :class:`Terminated` instead, a ``KeyboardInterrupt``, so every path that handles
Ctrl-C handles it too (the progress display is closed, the journal keeps the job, the resume
command is printed), only asking nothing and cancelling nothing that was not asked for.
"""

from __future__ import annotations

import contextlib
import importlib
import signal
import sys
import threading
from collections.abc import Iterator, Sequence
from types import FrameType
from typing import Any

import click

from .._exceptions import Sora2Error
from ._outcome import EXIT_ERROR, EXIT_INTERRUPTED, EXIT_TERMINATED, JsonOutput, error_object

__all__ = ["Terminated", "main", "run", "sigterm_interrupts"]

# name -> "module:attribute" of a click command
COMMANDS: dict[str, str] = {
    "batch": "sora2._cli._batch:batch",
    "generate": "sora2._cli._jobs:generate",
    "submit": "sora2._cli._jobs:submit",
    "price": "sora2._cli._jobs:price",
    "status": "sora2._cli._jobs:status",
    "result": "sora2._cli._jobs:result",
    "cancel": "sora2._cli._jobs:cancel",
    "jobs": "sora2._cli._journal_commands:jobs",
    "resume": "sora2._cli._journal_commands:resume",
    "forget": "sora2._cli._journal_commands:forget",
    "emulator": "sora2._cli._emulator:emulator",
    "contract": "sora2._cli._contract:contract",
}


class _LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module_name, _, attribute = target.partition(":")
        command = getattr(importlib.import_module(module_name), attribute)
        assert isinstance(command, click.Command)
        return command


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="sora2", prog_name="sora2")
def cli() -> None:
    """Turn prompts into videos with OpenAI Sora 2 on RunComfy, or emulate the service offline.

    Reads RUNCOMFY_API_TOKEN (or RUNCOMFY_TOKEN, or YOUR_API_TOKEN) and RUNCOMFY_BASE_URL.
    """


def _fail(message: str, code: int) -> int:
    click.echo(f"sora2: error: {message}", err=True)
    return code


def _wants_json(args: Sequence[str]) -> bool:
    """``--json`` among the options (not after ``--``, where it would be an argument)."""
    options = args[: args.index("--")] if "--" in args else args
    return "--json" in options


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; every failure is one line on stderr and a non-zero exit, never a traceback.

    With ``--json``, stdout gets exactly one JSON object, failures included (its ``error``).
    """
    args = list(argv) if argv is not None else sys.argv[1:]
    output = JsonOutput() if _wants_json(args) else None
    code, error = _run(args, output)
    if output is not None:
        output.flush(error)
    return code


def _run(args: list[str], output: JsonOutput | None) -> tuple[int, dict[str, Any] | None]:
    """Run one command, ``output`` its context object (where ``--json`` payloads go)."""
    try:
        with sigterm_interrupts():
            rc = cli.main(args=args, prog_name="sora2", standalone_mode=False, obj=output)
    except Terminated as exc:
        code = _fail("terminated", EXIT_TERMINATED)
        return code, error_object(exc, "terminated", code)
    except (click.exceptions.Abort, KeyboardInterrupt) as exc:
        code = _fail("interrupted", EXIT_INTERRUPTED)
        return code, error_object(exc, "interrupted", code)
    except click.exceptions.Exit as exc:
        return int(exc.exit_code), None
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code, error_object(exc, exc.format_message(), exc.exit_code)
    except Sora2Error as exc:  # one that no command translated: the same translation
        from ._common import command_error

        shown = command_error(exc)
        code = _fail(shown.format_message(), shown.exit_code)
        return code, error_object(exc, shown.format_message(), code)
    except OSError as exc:
        message = f"{exc.strerror or exc}: {exc.filename}" if exc.filename else str(exc)
        code = _fail(message, EXIT_ERROR)
        return code, error_object(exc, message, code)
    # With standalone_mode=False, click returns ctx.exit()'s code instead of exiting.
    code = rc if isinstance(rc, int) else 0
    if code != 0:
        return code, {"type": "Exit", "message": "", "request_id": None, "exit_code": code}
    return code, None


def run() -> None:
    sys.exit(main())


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
