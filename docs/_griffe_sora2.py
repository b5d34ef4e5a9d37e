"""A griffe extension for the API reference (mkdocs.yml loads it; it is not a page).

sora2's docstrings use a few Sphinx roles (``:class:`Journal```), which Google-style rendering
would print as they are, and the clients take private keyword arguments (``_clock``) that are
test seams, not API. The reference shows the roles as code and leaves those arguments out.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

__all__ = ["Sora2Reference"]

_ROLE = re.compile(r":(?:class|meth|func|data|attr|mod|exc|obj):`~?([^`]+)`")


class Sora2Reference(griffe.Extension):
    """Sphinx roles become inline code; parameters named ``_x`` leave the signatures."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = _ROLE.sub(r"`\1`", obj.docstring.value)

    def on_function_instance(self, *, func: griffe.Function, **kwargs: Any) -> None:
        public = [p for p in func.parameters if not p.name.startswith("_")]
        func.parameters = griffe.Parameters(*public)
