"""A faithful local stand-in for RunComfy's Sora 2 service: an ASGI app built from the spec.

Reach it in process as a client's transport, ``Client(transport=sora2.emulator.transport())``
or ``AsyncClient(transport=sora2.emulator.async_transport())`` (what ``emulator=True`` does),
through ``httpx.ASGITransport(app=create_app())`` or ``SyncASGITransport(create_app())``, or
over HTTP with ``serve()`` or
``sora2 emulator``. Names are imported on first use, so ``import sora2.emulator`` does not
load Starlette, uvicorn, PyAV or numpy (the ``emulator`` extra); without them, using a name
raises ``sora2.MissingExtraError`` saying how to install the extra.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .. import _lazy_names

if TYPE_CHECKING:
    from ._app import Emulator, create_app
    from ._faults import ConnectionDropped, FaultDecision, FaultPlan, FaultRule, parse_faults
    from ._jobs import JobView
    from ._serve import serve
    from ._stats import EmulatorStats
    from ._transport import (
        AsyncInProcessTransport,
        InProcessTransport,
        SyncASGITransport,
        async_transport,
        transport,
    )
    from ._video import VideoCache, encode_mp4, parse_size

__all__ = [
    "AsyncInProcessTransport",
    "ConnectionDropped",
    "Emulator",
    "EmulatorStats",
    "FaultDecision",
    "FaultPlan",
    "FaultRule",
    "InProcessTransport",
    "JobView",
    "SyncASGITransport",
    "VideoCache",
    "async_transport",
    "create_app",
    "encode_mp4",
    "parse_faults",
    "parse_size",
    "serve",
    "transport",
]

_LAZY = {
    "AsyncInProcessTransport": "._transport",
    "ConnectionDropped": "._faults",
    "Emulator": "._app",
    "EmulatorStats": "._stats",
    "FaultDecision": "._faults",
    "FaultPlan": "._faults",
    "FaultRule": "._faults",
    "InProcessTransport": "._transport",
    "JobView": "._jobs",
    "SyncASGITransport": "._transport",
    "VideoCache": "._video",
    "async_transport": "._transport",
    "create_app": "._app",
    "encode_mp4": "._video",
    "parse_faults": "._faults",
    "parse_size": "._video",
    "serve": "._serve",
    "transport": "._transport",
}


_load, __dir__ = _lazy_names(__name__, _LAZY, __all__)


def __getattr__(name: str) -> Any:
    """A name of the emulator, imported on first use; without the ``emulator`` extra, one
    clear ``ImportError`` (:class:`sora2.MissingExtraError`) saying how to install it."""
    from .._exceptions import needs_extra

    with needs_extra("the emulator", "emulator"):
        return _load(name)
