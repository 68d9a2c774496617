"""Fixtures for the social tests (the bus is in tests/conftest.py)."""

from __future__ import annotations

from typing import Any

import pytest

from chatr_server.appkeys import SERVICES
from chatr_server.container import Services


@pytest.fixture
def services(client: Any) -> Services:
    return client.server.app[SERVICES]
