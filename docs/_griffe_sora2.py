"""A griffe extension for the API reference (mkdocs.yml loads it; it is not a page).

sora2's docstrings use a few reStructuredText habits (roles such as ``:class:`Journal```, ``::``
before a literal block), which Markdown would print as they are, and the clients take private
keyword arguments (``_clock``) that are test seams, not API. The reference shows the roles as
code, the ``::`` as a colon, and leaves those arguments out.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

__all__ = ["Sora2Reference"]

_ROLE = re.compile(r":(?:class|meth|func|data|attr|mod|exc|obj):`~?([^`]+)`")
_LITERAL_BLOCK = re.compile(r"(?<=\S)::\n\n")


class Sora2Reference(griffe.Extension):
    """Roles become inline code, ``::`` a colon; parameters named ``_x`` leave the signatures."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            text = _ROLE.sub(r"`\1`", obj.docstring.value)
            obj.docstring.value = _LITERAL_BLOCK.sub(":\n\n", text)

    def on_function_instance(self, *, func: griffe.Function, **kwargs: Any) -> None:
        public = [p for p in func.parameters if not p.name.startswith("_")]
        func.parameters = griffe.Parameters(*public)
