"""Words for counts in messages: ``1 row``, ``2 rows``."""

from __future__ import annotations

__all__ = ["plural"]


def plural(count: int, noun: str, nouns: str | None = None) -> str:
    """``count`` and ``noun``, in the plural unless ``count`` is 1 (``nouns``, else ``noun+s``)."""
    return f"{count} {noun if count == 1 else nouns or noun + 's'}"
