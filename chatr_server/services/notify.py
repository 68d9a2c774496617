"""Sends verification codes and account mail through the configured channels.

Delivery failures are logged and swallowed where the contract says the flow
continues (an SMS that cannot be sent must not fail a login step). Nothing
here logs a code, a body or a full phone number.
"""

from __future__ import annotations

import logging

from chatr_server.integrations.mail import Email, Mailer
from chatr_server.integrations.sms import SmsSender
from chatr_server.services.testmode import TestMode

log = logging.getLogger(__name__)


def mask_phone(phone: str | None) -> str:
    if not phone:
        return "-"
    return phone[:3] + "*" * max(0, len(phone) - 5) + phone[-2:]


class Notifier:
    def __init__(
        self,
        mailer: Mailer,
        sms: SmsSender,
        test_mode: TestMode,
        product_name: str,
        frontend_url: str,
    ) -> None:
        self._mailer = mailer
        self._sms = sms
        self._test_mode = test_mode
        self._product = product_name
        self._frontend = frontend_url.rstrip("/")

    async def _email(self, email: Email, what: str) -> None:
        if await self._test_mode.is_on():
            return
        try:
            await self._mailer.send(email)
        except Exception:
            log.exception("could not send %s email", what)

    async def _text(self, phone: str, body: str, what: str) -> None:
        if await self._test_mode.is_on():
            return
        try:
            await self._sms.send(phone, body)
        except Exception:
            log.exception("could not send %s sms to %s", what, mask_phone(phone))

    async def email_verification(self, to: str, code: str) -> None:
        text = f"Your {self._product} verification code is {code}. It expires in 15 minutes."
        await self._email(Email(to, f"Verify your {self._product} email", text), "verification")

    async def email_login_code(self, to: str, code: str) -> None:
        text = f"Your {self._product} login code is {code}. It expires in 15 minutes."
        await self._email(Email(to, f"Your {self._product} login code", text), "login-code")

    async def email_password_reset(self, to: str, code: str) -> None:
        from urllib.parse import quote

        link = f"{self._frontend}/reset-password?code={code}&email={quote(to, safe='')}"
        text = (
            f"Use the code {code} to reset your {self._product} password, or open {link}. "
            "It expires in 15 minutes. If you did not ask for this, ignore this email."
        )
        await self._email(Email(to, f"Reset your {self._product} password", text), "password-reset")

    async def sms_verification(self, phone: str, code: str) -> None:
        body = f"Your {self._product} verification code is: {code}"
        await self._text(phone, body, "verification")

    async def sms_login_code(self, phone: str, code: str) -> None:
        body = f"Your {self._product} login code is: {code}"
        await self._text(phone, body, "login-code")
