"""``sora2 contract check FILE``: check recorded exchanges (HAR 1.2 or JSONL) against the spec.

Exit codes: 0 every API exchange matches the spec, 1 at least one violation, 2 the file
cannot be read or parsed (one ``sora2: error:`` line).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from . import EXIT_ERROR, EXIT_USAGE, CommandError, JsonOutput, record

__all__ = ["contract"]


@click.group()
def contract() -> None:
    """Check HTTP traffic against the sora2 OpenAPI spec."""


class ContractViolationsFound(click.ClickException):
    """Exit 1 without another message: the report already said what is wrong.

    Raised rather than ``ctx.exit(1)`` because ``sora2._cli.main`` runs click with
    ``standalone_mode=False``, where ``ctx.exit``'s code is returned, not raised.
    """

    exit_code = EXIT_ERROR

    def __init__(self) -> None:
        super().__init__("contract violations found")

    def show(self, file: Any = None) -> None:
        pass


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


@contract.command("check")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--json", "json_output", is_flag=True, help="Print one JSON object on stdout.")
@click.option(
    "--api-url",
    "api_urls",
    multiple=True,
    metavar="URL",
    help="Another base URL that serves the API (a proxy, an emulator); repeatable. A call to it, "
    "or to the spec's server, on a path the spec does not have is a violation.",
)
@click.pass_obj
def check(
    output: JsonOutput | None, file: Path, json_output: bool, api_urls: tuple[str, ...]
) -> None:
    """Check every exchange recorded in FILE (HAR 1.2, or JSONL as the pytest plugin writes).

    Exchanges whose URL is not an API path (CDN downloads, other hosts' pages) are skipped; a
    call to the API's host on a path the spec does not have is a violation. Exits 1 if any
    exchange breaks the spec.
    """
    import httpx

    from ..contract._contract import check_exchange, load_contract, split_target
    from ..contract._exchanges import read_exchanges

    try:
        checker = load_contract(api_urls=api_urls)
    except (httpx.InvalidURL, TypeError, ValueError) as exc:
        raise CommandError(f"--api-url: {exc}", EXIT_USAGE) from exc

    try:
        exchanges = read_exchanges(file)
    except OSError as exc:
        raise CommandError(f"{file}: {exc.strerror or exc}", EXIT_USAGE) from exc
    except ValueError as exc:
        raise CommandError(str(exc), EXIT_USAGE) from exc

    rows: list[dict[str, Any]] = []
    lines: list[str] = []
    checked = 0
    for index, exchange in enumerate(exchanges, start=1):
        try:
            found = check_exchange(exchange, contract=checker)
        except httpx.InvalidURL as exc:
            raise CommandError(f"{file}: exchange {index}: bad URL: {exc}", EXIT_USAGE) from exc
        if found is None:
            continue
        checked += 1
        if not found:
            continue
        path, _ = split_target(httpx.URL(exchange.url))
        status = f" -> {exchange.status}" if exchange.status is not None else ""
        operation = found[0].operation_id
        lines.append(
            f"#{index} {exchange.method} {path}{status}" + (f" ({operation})" * bool(operation))
        )
        for violation in found:
            lines.append(f"  {violation}")
            rows.append(
                {"exchange": index, "method": exchange.method, "path": path}
                | violation.to_dict()
                | ({"test": exchange.test} if exchange.test else {})
            )

    skipped = len(exchanges) - checked
    summary = (
        f"{file}: {_plural(len(exchanges), 'exchange')}, {checked} checked, "
        f"{skipped} skipped (not API calls): {_plural(len(rows), 'violation')}"
    )
    if json_output:
        payload = {
            "file": str(file),
            "exchanges": len(exchanges),
            "checked": checked,
            "skipped": skipped,
            "ok": not rows,
            "violations": rows,
        }
        record(output, payload)
    else:
        for line in lines:
            click.echo(line)
        click.echo(summary)
    if rows:
        raise ContractViolationsFound()
