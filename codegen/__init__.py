"""Spec-to-code pipeline for sora2: ``python -m codegen generate|check|lint|diff``.

``spec/sora2.openapi.yaml`` is the single source of truth; everything under ``generated/`` is
produced from it by pinned generators and must never be edited by hand.
"""

from __future__ import annotations

__all__: list[str] = []
