"""Where the pipeline reads and writes, relative to one repository root.

Every command takes the root explicitly so that tests can run the pipeline on a temporary copy.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

__all__ = ["Layout", "default_root"]

SPEC_RELPATH = Path("spec") / "sora2.openapi.yaml"
GENERATED_RELPATH = Path("generated")
API_PACKAGE = "sora2_api"
MODELS_PACKAGE = "sora2_models"
STAMP_NAME = "stamp.json"
SPEC_JSON_NAME = "openapi.json"
TYPED_DICTS_MODULE = "typed_dicts.py"
"""The TypedDicts of the spec's schemas, inside the models package (sora2_models.typed_dicts)."""
TYPED_DICTS_CONFIG = "typed-dicts.toml"
UPSTREAM_RELPATH = Path("spec") / "upstream"
PAGES_INDEX = "pages.yaml"
"""The index of the saved model pages, in the upstream directory (``codegen sync --all``)."""


def default_root() -> Path:
    """The repository this ``codegen`` package sits in."""
    return Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Layout:
    """The paths of one checkout."""

    root: Path

    @property
    def spec(self) -> Path:
        return self.root / SPEC_RELPATH

    @property
    def upstream(self) -> Path:
        """Where the published model pages the spec was written from are kept."""
        return self.root / UPSTREAM_RELPATH

    @property
    def generated(self) -> Path:
        return self.root / GENERATED_RELPATH

    @property
    def config_dir(self) -> Path:
        return self.root / "codegen" / "config"
