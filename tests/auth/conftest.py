"""Account-flow tests: the real app wired to a loopback SMTP server and a Twilio stand-in.

The peers are the shared fixtures of ``tests.peers`` (``smtp_server``, ``twilio_fake``);
``peer_client`` builds the app against them with test mode off, so every code
a test uses is one the server really delivered.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import asyncpg
import pytest

from tests.auth.flows import FRONTEND, TWILIO_FROM, TWILIO_SID, TWILIO_TOKEN, Peers
from tests.peers import SmtpSink, TwilioFake


@pytest.fixture
def peer_settings(smtp_server: SmtpSink, twilio_fake: TwilioFake) -> dict[str, Any]:
    return {
        "smtp_host": smtp_server.host,
        "smtp_port": smtp_server.port,
        "smtp_starttls": False,
        "twilio_account_sid": TWILIO_SID,
        "twilio_auth_token": TWILIO_TOKEN,
        "twilio_from_number": TWILIO_FROM,
        "twilio_api_base": twilio_fake.base_url,
        "enable_sms": True,
        "suppress_sms": False,
        "frontend_url": FRONTEND,
        "test_mode_allowed": False,
    }


@pytest.fixture
def make_peers(
    make_client: Callable[..., Any],
    peer_settings: dict[str, Any],
    smtp_server: SmtpSink,
    twilio_fake: TwilioFake,
) -> Callable[..., Any]:
    """Build the app against the peers (test mode off); overrides go to the settings."""

    async def factory(**overrides: Any) -> Peers:
        client = await make_client(**{**peer_settings, **overrides})
        return Peers(client, smtp_server, twilio_fake)

    return factory


@pytest.fixture
async def peers(make_peers: Callable[..., Any]) -> Peers:
    return await make_peers()


@pytest.fixture
async def db(database_url: str) -> Any:
    """A direct connection, for what no route can do (ageing a code past its expiry)."""
    conn = await asyncpg.connect(database_url)
    yield conn
    await conn.close()
