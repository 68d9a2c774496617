from __future__ import annotations

import logging
from dataclasses import replace

import orjson
import pytest

from chatr_server.integrations.sms import (
    DeliveryError,
    SmsSender,
    TwilioSmsSender,
    create_sms_sender,
    sms_login_text,
    sms_verification_text,
)
from chatr_server.settings import Settings
from tests.helpers import free_port
from tests.peers import TwilioFake

# twilio 9 still passes auth= to aiohttp, which aiohttp 3.14 deprecates: not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:twilio.*")

SID = "AC" + "1" * 32
TOKEN = "tok3n-secret"


def twilio_settings(settings: Settings, base: str | None, **changes: object) -> Settings:
    values = {
        "twilio_account_sid": SID,
        "twilio_auth_token": TOKEN,
        "twilio_from_number": "+15005550006",
        "twilio_api_base": base,
    }
    return replace(settings, **{**values, **changes})  # type: ignore[arg-type]


def test_message_texts() -> None:
    assert "123456" in sms_verification_text("123456", "Chatr")
    assert "Chatr" in sms_verification_text("123456", "Chatr")
    assert "654321" in sms_login_text("654321", "Chatr")
    assert sms_login_text("1", "Chatr") != sms_verification_text("1", "Chatr")
    assert len(sms_verification_text("123456", "Chatr")) <= 160


def test_create_sms_sender_rules(settings: Settings) -> None:
    configured = twilio_settings(settings, None)
    assert isinstance(create_sms_sender(configured), TwilioSmsSender)
    assert type(create_sms_sender(settings)) is SmsSender
    assert type(create_sms_sender(replace(configured, enable_sms=False))) is SmsSender
    assert type(create_sms_sender(replace(configured, suppress_sms=True))) is SmsSender
    assert type(create_sms_sender(replace(configured, twilio_from_number=None))) is SmsSender


async def test_outbox_sms(settings: Settings) -> None:
    sender = create_sms_sender(settings)
    await sender.send("+447700900123", "hello")
    await sender.close()
    [path] = (settings.outbox_dir / "sms").glob("*.json")
    assert orjson.loads(path.read_bytes()) == {"to": "+447700900123", "body": "hello"}


async def test_twilio_send(
    settings: Settings, twilio_fake: TwilioFake, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    sender = create_sms_sender(twilio_settings(settings, twilio_fake.base_url + "/"))
    body = sms_verification_text("246810", "Chatr")
    try:
        await sender.send("+447700900123", body)
        await sender.send("+447700900124", "second")
    finally:
        await sender.close()
    first = twilio_fake.requests[0]
    assert first["sid"] == SID
    assert (first["user"], first["password"]) == (SID, TOKEN)
    assert first["form"] == {"To": "+447700900123", "From": "+15005550006", "Body": body}
    assert twilio_fake.requests[1]["form"]["To"] == "+447700900124"
    for record in caplog.records:
        dumped = repr(record.__dict__) + record.getMessage()
        assert "246810" not in dumped and TOKEN not in dumped
        assert "+447700900123" not in dumped


async def test_twilio_error_raises_delivery_error(
    settings: Settings, twilio_fake: TwilioFake, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    twilio_fake.fail_with = 400
    sender = TwilioSmsSender(twilio_settings(settings, twilio_fake.base_url))
    try:
        with pytest.raises(DeliveryError) as info:
            await sender.send("+447700900123", "code 135790")
    finally:
        await sender.close()
    assert "135790" not in str(info.value)
    [failure] = [r for r in caplog.records if r.getMessage() == "sms delivery failed"]
    assert failure.http_status == 400 and failure.twilio_code == 21211
    assert all("135790" not in repr(r.__dict__) for r in caplog.records)


async def test_twilio_unreachable_raises(settings: Settings) -> None:
    base = f"http://127.0.0.1:{free_port()}"
    sender = TwilioSmsSender(twilio_settings(settings, base), timeout=5)
    try:
        with pytest.raises(DeliveryError):
            await sender.send("+447700900123", "hi")
    finally:
        await sender.close()


async def test_twilio_close_without_use(settings: Settings) -> None:
    sender = TwilioSmsSender(twilio_settings(settings, None))
    await sender.close()
    with pytest.raises(ValueError):
        TwilioSmsSender(settings)
