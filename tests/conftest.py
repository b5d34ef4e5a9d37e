"""Shared fixtures: nothing here touches the internet; servers bind to 127.0.0.1 only."""

from __future__ import annotations
