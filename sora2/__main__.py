"""``python -m sora2``: the same as the ``sora2`` command."""

from ._cli import run

run()
