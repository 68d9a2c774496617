"""Fixtures for the widget, support-inbox, contact and link-preview tests."""

from __future__ import annotations

from typing import Any

import pytest_asyncio

from tests.helpers import TestUser
from tests.widget.helpers import make_agent


@pytest_asyncio.fixture
async def agent(client: Any) -> TestUser:
    return await make_agent(client)
