"""Classify the changes between two versions of a schema, for clients and servers apart.

Each change is read from both ends of the wire. On a request the client writes and the server
reads; on a response it is the other way round. A change that lets a schema accept more (a new
enum value, a looser bound) breaks whoever *reads* it, who meets values it does not know; one
that accepts less breaks whoever *writes* it, who still sends what is now refused.

"""

from __future__ import annotations

from ._change import KINDS, Change, Effect, Side, show
from ._comparer import SchemaComparer
from ._document import Ctx, Document, ref_name

__all__ = [
    "KINDS",
    "Change",
    "Ctx",
    "Document",
    "Effect",
    "SchemaComparer",
    "Side",
    "ref_name",
    "show",
]
