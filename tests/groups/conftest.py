"""Group test fixtures: helpers to build groups (the recording bus is in tests/conftest.py)."""

from __future__ import annotations
