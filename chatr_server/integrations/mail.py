"""Outgoing email: SMTP when configured, otherwise JSON files in the outbox folder."""

from __future__ import annotations

import logging
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formataddr, formatdate, make_msgid
from pathlib import Path
from typing import TYPE_CHECKING

from chatr_server.integrations.errors import DeliveryError
from chatr_server.util.outbox import write_outbox

if TYPE_CHECKING:
    from chatr_server.settings import Settings

log = logging.getLogger(__name__)

__all__ = ["DeliveryError", "Email", "Mailer", "SmtpMailer", "create_mailer"]


@dataclass(frozen=True, slots=True)
class Email:
    to: str
    subject: str
    text: str
    html: str | None = None
    reply_to: str | None = None


def _domain(address: str) -> str:
    """Only the domain of an address is fit for logs."""
    return address.rpartition("@")[2] or "?"


class Mailer:
    """Delivers :class:`Email` objects; this base version writes them to the outbox."""

    def __init__(self, outbox_dir: Path) -> None:
        self._outbox = outbox_dir

    async def send(self, email: Email) -> None:
        record: dict[str, object] = {
            "to": email.to,
            "subject": email.subject,
            "text": email.text,
            "html": email.html,
        }
        if email.reply_to:
            record["reply_to"] = email.reply_to
        path = await write_outbox(self._outbox, "email", record)
        # The recipient address and body may carry codes: log only where it went.
        log.info("email written to outbox", extra={"outbox_file": str(path)})

    async def close(self) -> None:
        return None


class SmtpMailer(Mailer):
    """Sends through an SMTP server with aiosmtplib, one connection per message.

    ``SMTP_TLS`` means implicit TLS (port 465); otherwise ``SMTP_STARTTLS``
    *requires* the upgrade, so credentials never cross the wire in clear.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        tls_context: ssl.SSLContext | None = None,
        timeout: float = 30.0,
    ) -> None:
        super().__init__(settings.outbox_dir)
        if not settings.smtp_host:
            raise ValueError("SmtpMailer needs SMTP_HOST")
        self._host = settings.smtp_host
        self._port = settings.smtp_port
        self._user = settings.smtp_user
        self._password = settings.smtp_password
        self._implicit_tls = settings.smtp_tls
        self._starttls = settings.smtp_starttls and not settings.smtp_tls
        self._from = formataddr((settings.mail_from_name, settings.mail_from_address))
        self._from_domain = _domain(settings.mail_from_address)
        self._tls_context = tls_context
        self._timeout = timeout

    def build_message(self, email: Email) -> EmailMessage:
        """The MIME message: plain text, plus an HTML alternative when there is one."""
        message = EmailMessage()
        message["From"] = self._from
        message["To"] = email.to
        message["Subject"] = email.subject
        message["Date"] = formatdate(localtime=False, usegmt=True)
        message["Message-ID"] = make_msgid(domain=self._from_domain)
        if email.reply_to:
            message["Reply-To"] = email.reply_to
        message.set_content(email.text)
        if email.html:
            message.add_alternative(email.html, subtype="html")
        return message

    async def send(self, email: Email) -> None:
        import aiosmtplib

        try:
            message = self.build_message(email)
        except (ValueError, TypeError) as exc:
            # e.g. a line break smuggled into a header; never log the values themselves.
            log.warning("email rejected before sending", extra={"error": type(exc).__name__})
            raise DeliveryError("email could not be sent") from exc
        try:
            await aiosmtplib.send(
                message,
                hostname=self._host,
                port=self._port,
                username=self._user or None,
                password=self._password if self._user else None,
                use_tls=self._implicit_tls,
                start_tls=self._starttls,
                tls_context=self._tls_context,
                timeout=self._timeout,
            )
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            log.warning(
                "email delivery failed",
                extra={
                    "error": type(exc).__name__,
                    "smtp_code": getattr(exc, "code", None),
                    "smtp_host": self._host,
                    "recipient_domain": _domain(email.to),
                },
            )
            raise DeliveryError("email could not be sent") from exc
        log.info("email sent", extra={"recipient_domain": _domain(email.to)})


def create_mailer(settings: Settings) -> Mailer:
    """SMTP when ``SMTP_HOST`` is set, otherwise the outbox folder."""
    if settings.smtp_host:
        return SmtpMailer(settings)
    return Mailer(settings.outbox_dir)
