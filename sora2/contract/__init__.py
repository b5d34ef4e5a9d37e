"""Check HTTP traffic against the sora2 OpenAPI spec: in tests, in a transport, or from a file.

``check_request`` / ``check_response`` take httpx objects and return a list of ``Violation``;
``ContractTransport`` / ``AsyncContractTransport`` check every exchange of an httpx client;
``read_exchanges`` loads HAR or JSONL recordings for ``check_exchange`` and
``sora2 contract check``. The pytest plugin (fixture ``sora2_contract``) lives in ``_plugin``.

Importing this package is cheap (the pytest plugin imports it in every test run): jsonschema
and httpx are imported on first use of a checker or transport.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .. import _lazy_names
from ._violations import Violation, format_violations

if TYPE_CHECKING:
    from ._contract import (
        Contract,
        Match,
        check_exchange,
        check_request,
        check_response,
        load_contract,
    )
    from ._exchanges import Exchange, read_exchanges
    from ._transport import (
        AsyncContractTransport,
        ContractRecorder,
        ContractTransport,
        Mode,
        TransportOptions,
        wrap,
    )

__all__ = [
    "AsyncContractTransport",
    "Contract",
    "ContractRecorder",
    "ContractTransport",
    "Exchange",
    "Match",
    "Mode",
    "TransportOptions",
    "Violation",
    "check_exchange",
    "check_request",
    "check_response",
    "format_violations",
    "load_contract",
    "read_exchanges",
    "wrap",
]

_LAZY = {
    "Contract": "._contract",
    "Match": "._contract",
    "check_exchange": "._contract",
    "check_request": "._contract",
    "check_response": "._contract",
    "load_contract": "._contract",
    "Exchange": "._exchanges",
    "read_exchanges": "._exchanges",
    "AsyncContractTransport": "._transport",
    "ContractRecorder": "._transport",
    "ContractTransport": "._transport",
    "Mode": "._transport",
    "TransportOptions": "._transport",
    "wrap": "._transport",
}


__getattr__, __dir__ = _lazy_names(__name__, _LAZY, __all__)
