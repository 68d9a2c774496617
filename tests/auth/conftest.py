"""Account-flow tests: the real app wired to a loopback SMTP server and a Twilio stand-in.

The peers are the integration suite's fixtures (``smtp_server``, ``twilio_fake``);
``peer_client`` builds the app against them with test mode off, so every code
a test uses is one the server really delivered.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

import asyncpg
import pytest

from tests.integrations.conftest import (  # noqa: F401  (fixtures are used by name)
    SmtpSink,
    TwilioFake,
    smtp_server,
    twilio_fake,
)

CODE_RE = re.compile(r"\b(\d{6})\b")
TWILIO_SID = "AC" + "a1" * 16
TWILIO_TOKEN = "twilio-test-token"
TWILIO_FROM = "+447700900001"
FRONTEND = "https://app.chatr.test"


@dataclass
class Peers:
    """The app's test client plus what its mail and SMS peers received."""

    client: Any
    smtp: SmtpSink
    twilio: TwilioFake

    @property
    def emails(self) -> list[EmailMessage]:
        return [message for _from, _to, message in self.smtp.messages]

    def last_email(self, to: str | None = None) -> EmailMessage:
        for _from, rcpts, message in reversed(self.smtp.messages):
            if to is None or to in rcpts:
                return message
        raise AssertionError(f"no email to {to}")

    def last_email_code(self, to: str | None = None) -> str:
        text = email_text(self.last_email(to))
        match = CODE_RE.search(text)
        assert match, text
        return match.group(1)

    def sms_to(self, number: str) -> list[str]:
        return [r["form"]["Body"] for r in self.twilio.requests if r["form"]["To"] == number]

    def last_sms_code(self, number: str) -> str:
        bodies = self.sms_to(number)
        assert bodies, f"no SMS to {number}"
        match = CODE_RE.search(bodies[-1])
        assert match, bodies[-1]
        return match.group(1)


def email_text(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    return part.get_content()


def email_html(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("html",))
    assert part is not None
    return part.get_content()


@pytest.fixture
def peer_settings(smtp_server: SmtpSink, twilio_fake: TwilioFake) -> dict[str, Any]:  # noqa: F811
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
    smtp_server: SmtpSink,  # noqa: F811
    twilio_fake: TwilioFake,  # noqa: F811
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


async def expire_code(db: Any, user_id: str, purpose: str) -> None:
    status = await db.execute(
        "UPDATE verification_codes SET expires_at = now() - interval '1 minute' "
        "WHERE user_id = $1 AND purpose = $2",
        user_id,
        purpose,
    )
    assert status == "UPDATE 1", status
