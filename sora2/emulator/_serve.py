"""Serving the emulator over real HTTP with uvicorn, in a background thread or the foreground.

The listening socket is bound (and listening) before uvicorn starts, so port 0 works: the
kernel picks a free port, the URL is known at once, and a client that connects early waits in
the backlog instead of being refused.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from ._constants import DEFAULT_HOST

if TYPE_CHECKING:
    import uvicorn
    from starlette.types import ASGIApp

__all__ = ["bind", "make_server", "serve"]

STARTUP_TIMEOUT = 30.0
"""Seconds ``serve()`` waits for uvicorn to be ready before giving up."""
SHUTDOWN_TIMEOUT = 10
"""Seconds ``serve()`` waits for uvicorn to finish open connections when the block exits."""


def bind(host: str = DEFAULT_HOST, port: int = 0) -> tuple[socket.socket, str]:
    """A listening TCP socket on ``host:port`` and its base URL (``http://host:PORT``).

    Raises:
        OSError: the address cannot be bound (in use, not ours); its message names it.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP, not 0: asyncio only sets TCP_NODELAY on accepted sockets whose protocol says
    # TCP, and without it every small response waits ~40 ms for the peer's delayed ACK.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    shown = f"[{host}]" if family == socket.AF_INET6 else host
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(128)
    except OSError as exc:
        sock.close()
        # The OS says "Address already in use" without saying which: name the address.
        raise type(exc)(exc.errno, f"cannot listen on {shown}:{port}: {exc.strerror}") from None
    bound_port = sock.getsockname()[1]
    return sock, f"http://{shown}:{bound_port}"


def make_server(
    app: ASGIApp, *, log_level: str = "warning", access_log: bool = False
) -> uvicorn.Server:
    """A uvicorn server for ``app``; run it with ``server.run(sockets=[sock])``."""
    import uvicorn

    config = uvicorn.Config(
        app,
        log_level=log_level,
        access_log=access_log,
        lifespan="off",
        timeout_graceful_shutdown=SHUTDOWN_TIMEOUT,
    )
    return uvicorn.Server(config)


@contextmanager
def serve(
    app: ASGIApp, host: str = DEFAULT_HOST, port: int = 0, *, log_level: str = "warning"
) -> Iterator[str]:
    """Run ``app`` under uvicorn in a background thread; yield its base URL while it serves.

    The URL is yielded once uvicorn accepts connections; leaving the block shuts the server
    down and joins its thread. Bind to 127.0.0.1 (the default) unless you mean to expose it.
    """
    sock, url = bind(host, port)
    server = make_server(app, log_level=log_level)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name=f"sora2-emulator {url}", daemon=True
    )
    try:
        thread.start()
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while not server.started:
            if not thread.is_alive():
                raise RuntimeError(f"the emulator server at {url} failed to start")
            if time.monotonic() > deadline:
                raise RuntimeError(f"the emulator server at {url} did not start in time")
            time.sleep(0.01)
        yield url
    finally:
        server.should_exit = True
        if thread.is_alive():
            thread.join(SHUTDOWN_TIMEOUT + 5)
        sock.close()
