"""The ``sora2`` command line.

Subcommands live in their own modules and are imported only when invoked, so ``sora2 --help``
and ``sora2 status`` never pay for the emulator's video stack or the contract checker.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence
from typing import Any

import click

from .._exceptions import Sora2Error
from ._exit_codes import (
    EXIT_ERROR,
    EXIT_INTERRUPTED,
    EXIT_TERMINATED,
)

__all__ = ["main"]

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
    from ._output import JsonOutput, collecting

    args = list(argv) if argv is not None else sys.argv[1:]
    output = JsonOutput() if _wants_json(args) else None
    with collecting(output):
        code, error = _run(args)
    if output is not None:
        output.flush(error)
    return code


def _run(args: list[str]) -> tuple[int, dict[str, Any] | None]:
    from ._output import error_object
    from ._signals import Terminated, sigterm_interrupts

    try:
        with sigterm_interrupts():
            rc = cli.main(args=args, prog_name="sora2", standalone_mode=False)
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
