from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

import orjson
import pytest

from chatr_server.integrations.mail import (
    DeliveryError,
    Email,
    Mailer,
    SmtpMailer,
    create_mailer,
)
from chatr_server.integrations.templates import EmailTemplates
from chatr_server.settings import Settings
from tests.helpers import free_port
from tests.peers import SmtpSink, TlsPair, run_smtp

CODE = "918273"


def smtp_settings(settings: Settings, sink: SmtpSink, **changes: object) -> Settings:
    base = {
        "smtp_host": sink.host,
        "smtp_port": sink.port,
        "smtp_starttls": False,
        "mail_from_name": "Chatr Team",
        "mail_from_address": "noreply@chatr.test",
    }
    return replace(settings, **{**base, **changes})  # type: ignore[arg-type]


def sample_email() -> Email:
    return EmailTemplates("Chatr", "https://app.chatr.test").render(
        "verification", "Ada <ada@example.com>", code=CODE, name="<script>alert(1)</script>"
    )


def assert_nothing_sensitive_logged(caplog: pytest.LogCaptureFixture) -> None:
    for record in caplog.records:
        if record.name == "mail.log":  # the test server's own transcript
            continue
        dumped = repr(record.__dict__) + record.getMessage()
        assert CODE not in dumped
        assert "s3cret" not in dumped
        assert "alert(1)" not in dumped


def test_create_mailer_picks_backend(settings: Settings) -> None:
    assert type(create_mailer(settings)) is Mailer
    assert isinstance(create_mailer(replace(settings, smtp_host="smtp.test")), SmtpMailer)


async def test_outbox_mailer_writes_json(settings: Settings) -> None:
    mailer = create_mailer(settings)
    await mailer.send(Email("a@example.com", "Hi", "text body", "<p>html</p>", "b@example.com"))
    await mailer.close()
    files = list((settings.outbox_dir / "email").glob("*.json"))
    assert len(files) == 1
    assert orjson.loads(files[0].read_bytes()) == {
        "to": "a@example.com",
        "subject": "Hi",
        "text": "text body",
        "html": "<p>html</p>",
        "reply_to": "b@example.com",
    }


async def test_smtp_delivers_multipart(
    settings: Settings, smtp_server: SmtpSink, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    mailer = create_mailer(smtp_settings(settings, smtp_server))
    await mailer.send(sample_email())
    await mailer.close()

    assert len(smtp_server.messages) == 1
    mail_from, rcpt_tos, message = smtp_server.messages[0]
    assert mail_from == "noreply@chatr.test"
    assert rcpt_tos == ["ada@example.com"]
    sender = message["From"].addresses[0]
    assert (sender.display_name, sender.addr_spec) == ("Chatr Team", "noreply@chatr.test")
    assert message["Subject"] == "Your Chatr verification code"
    assert message["Message-ID"].endswith("@chatr.test>")
    assert message.get_content_type() == "multipart/alternative"
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    assert CODE in text and CODE in html
    assert "<script>alert(1)</script>" in text  # plain text is not escaped…
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html  # …HTML is
    assert "<script>" not in html
    assert_nothing_sensitive_logged(caplog)


async def test_smtp_text_only_and_reply_to(settings: Settings, smtp_server: SmtpSink) -> None:
    mailer = SmtpMailer(smtp_settings(settings, smtp_server))
    await mailer.send(Email("b@example.com", "Plain", "just text ü", reply_to="c@example.com"))
    _, _, message = smtp_server.messages[0]
    assert message.get_content_type() == "text/plain"
    assert message.get_content().strip() == "just text ü"
    assert message["Reply-To"] == "c@example.com"


async def test_starttls_with_auth(
    settings: Settings, tls_pair: TlsPair, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    sink = SmtpSink("127.0.0.1", free_port())
    with run_smtp(
        sink,
        tls_context=tls_pair.server,
        require_starttls=True,
        authenticator=sink.authenticate,
        auth_require_tls=True,
    ):
        config = smtp_settings(
            settings, sink, smtp_starttls=True, smtp_user="mailer", smtp_password="s3cret"
        )
        await SmtpMailer(config, tls_context=tls_pair.client).send(sample_email())
        assert len(sink.messages) == 1
        assert sink.logins == [("mailer", "s3cret")]

        wrong = replace(config, smtp_password="wrong")
        with pytest.raises(DeliveryError):
            await SmtpMailer(wrong, tls_context=tls_pair.client).send(sample_email())
        assert len(sink.messages) == 1
    assert_nothing_sensitive_logged(caplog)


async def test_starttls_required_but_unsupported(settings: Settings, smtp_server: SmtpSink) -> None:
    mailer = SmtpMailer(smtp_settings(settings, smtp_server, smtp_starttls=True))
    with pytest.raises(DeliveryError):
        await mailer.send(sample_email())
    assert smtp_server.messages == []


async def test_implicit_tls(settings: Settings, tls_pair: TlsPair) -> None:
    sink = SmtpSink("127.0.0.1", free_port())
    from aiosmtpd.controller import Controller

    controller = Controller(sink, hostname=sink.host, port=sink.port, ssl_context=tls_pair.server)
    controller.start()
    try:
        config = smtp_settings(settings, sink, smtp_tls=True, smtp_starttls=True)
        await SmtpMailer(config, tls_context=tls_pair.client).send(sample_email())
    finally:
        controller.stop()
    assert len(sink.messages) == 1


async def test_untrusted_certificate_is_refused(settings: Settings, tls_pair: TlsPair) -> None:
    sink = SmtpSink("127.0.0.1", free_port())
    with run_smtp(sink, tls_context=tls_pair.server, require_starttls=True):
        mailer = SmtpMailer(smtp_settings(settings, sink, smtp_starttls=True))
        with pytest.raises(DeliveryError):
            await mailer.send(sample_email())
    assert sink.messages == []


async def test_rejected_message_raises(
    settings: Settings, smtp_server: SmtpSink, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    smtp_server.reject_data = "550 5.7.1 Message rejected"
    mailer = SmtpMailer(smtp_settings(settings, smtp_server))
    with pytest.raises(DeliveryError) as info:
        await mailer.send(sample_email())
    assert CODE not in str(info.value)
    failures = [r for r in caplog.records if r.getMessage() == "email delivery failed"]
    assert len(failures) == 1 and failures[0].smtp_code == 550
    assert_nothing_sensitive_logged(caplog)


async def test_unreachable_server_raises(settings: Settings, tmp_path: Path) -> None:
    sink = SmtpSink("127.0.0.1", free_port())  # nothing listens here
    mailer = SmtpMailer(smtp_settings(settings, sink), timeout=5)
    with pytest.raises(DeliveryError):
        await mailer.send(sample_email())


async def test_header_injection_refused(settings: Settings, smtp_server: SmtpSink) -> None:
    mailer = SmtpMailer(smtp_settings(settings, smtp_server))
    with pytest.raises(DeliveryError):
        await mailer.send(Email("a@example.com\r\nBcc: victim@example.com", "x", "y"))
    assert smtp_server.messages == []
