"""``sora2 emulator``: serve the emulator over HTTP in the foreground.

The base URL is printed on stdout (one line, flushed) as soon as the socket listens, so a
script can start ``sora2 emulator --port 0`` and read where it went. Ctrl-C or SIGTERM stops
it cleanly. The token is never printed.
"""

from __future__ import annotations

import click

from .._exceptions import InvalidInputError
from ..emulator._constants import (
    DEFAULT_HOST,
    DEFAULT_OUTPUTS,
    DEFAULT_PORT,
    DEFAULT_SPEED,
    DEFAULT_WORKERS,
)
from . import CommandError

__all__ = ["emulator"]

_LOG_LEVELS = ("critical", "error", "warning", "info", "debug")


@click.command(context_settings={"show_default": True})  # every default given is shown
@click.option("--host", default=DEFAULT_HOST, help="Interface to bind.")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=DEFAULT_PORT,
    help="Port to bind; 0 picks a free one (the URL printed says which).",
)
@click.option(
    "--token",
    default=None,
    metavar="TOKEN",
    help="Accept only this bearer token. Default: any non-empty token.",
)
@click.option(
    "--speed",
    type=click.FloatRange(min=0, min_open=True),
    default=DEFAULT_SPEED,
    help="Divide every phase duration by this (2 = twice as fast).",
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=DEFAULT_WORKERS,
    help="Jobs that run at once; the others queue.",
)
@click.option(
    "--seed",
    type=int,
    default=None,
    help="Seed of request ids and probabilistic faults (default: random, printed at start).",
)
@click.option(
    "--faults",
    default=None,
    metavar="SPEC",
    help="Faults to inject, e.g. 'status:429@every=5,submit:drop@rate=0.1'. "
    "RULE = TARGET:KIND[=VALUE][@every=N|first=N|after=N|rate=P]; TARGET is an "
    "operationId, 'video' or '*'; KIND is 429, 500, 502, 503, drop, slow, truncate or fail "
    "('submit:fail@every=3': every third job ends failed).",
)
@click.option(
    "--outputs",
    default=DEFAULT_OUTPUTS,
    metavar="FIELDS",
    help="The output fields a completed job fills, comma-separated: the spec's documented "
    "output fields, e.g. 'images' or 'image,videos' (a PNG per image, an MP4 per video, "
    "bytes as .bin for a field of any other kind).",
)
@click.option(
    "--log-level",
    type=click.Choice(_LOG_LEVELS),
    default="info",
    help="uvicorn's log level; 'info' logs each request line.",
)
def emulator(
    host: str,
    port: int,
    token: str | None,
    speed: float,
    workers: int,
    seed: int | None,
    faults: str | None,
    outputs: str,
    log_level: str,
) -> None:
    """Run the Sora 2 service emulator (queue, auth, errors, real MP4s and PNGs, faults)."""
    import signal

    from .._exceptions import needs_extra

    with needs_extra("sora2 emulator", "emulator"):
        import uvicorn  # noqa: F401  (make_server imports it only when called)

        from ..emulator._app import create_app
        from ..emulator._serve import bind, make_server

    if token is not None and not token.strip():
        raise click.BadParameter("must not be empty", param_hint="--token")
    try:
        app = create_app(
            token=token, speed=speed, workers=workers, seed=seed, faults=faults, outputs=outputs
        )
    except InvalidInputError as exc:
        raise click.BadParameter(exc.message, param_hint=f"--{exc.field}") from exc
    try:
        sock, url = bind(host, port)
    except OSError as exc:
        hint = " (is another emulator running? --port 0 picks a free port)" if port else ""
        raise CommandError(f"{exc.strerror}{hint}") from None
    server = make_server(app, log_level=log_level, access_log=log_level in ("info", "debug"))
    click.echo(url)
    click.echo(f"sora2 emulator: {app!r}; Ctrl-C to stop", err=True)

    def _stop(signum: int, frame: object) -> None:
        server.should_exit = True

    signal.signal(signal.SIGTERM, _stop)
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:
        pass
    finally:
        sock.close()
