"""Sends verification codes and account mail through the configured channels.

Emails are rendered from the Jinja2 templates (HTML + text) with the subjects
of rest.md §8; SMS bodies come from the helpers in ``integrations/sms.py``.
Delivery failures are logged and swallowed where the contract says the flow
continues (an SMS that cannot be sent must not fail a login step). Nothing
here logs a code, a body, a link or a full phone number.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from urllib.parse import quote

from markupsafe import escape

from chatr_server.integrations.mail import Email, Mailer
from chatr_server.integrations.sms import SmsSender, sms_login_text, sms_verification_text
from chatr_server.integrations.templates import EmailTemplates
from chatr_server.services.testmode import TestMode

log = logging.getLogger(__name__)

CODE_MINUTES = 15
PREVIEW_TYPES = ("verification", "login", "reset")
_PREVIEW_DEFAULTS = {
    "code": "123456",
    "email": "user@example.com",
    "username": "@testuser",
    "userId": "test123",
}
_PREVIEW_THEMES = {"light": "#f4f5f7", "dark": "#111318"}


def with_subject(email: Email, subject: str) -> Email:
    """Give a rendered email the contract's subject (rest.md §8), in its <title> too.

    The template catalogue has its own subject lines; the client-facing contract
    wins, without forking the shared templates.
    """
    html = email.html
    if html is not None:
        old, new = f"<title>{escape(email.subject)}</title>", f"<title>{escape(subject)}</title>"
        html = html.replace(old, new, 1)
    return dataclasses.replace(email, subject=subject, html=html)


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
        mail_from_name: str | None = None,
    ) -> None:
        self._mailer = mailer
        self._sms = sms
        self._test_mode = test_mode
        self._product = product_name
        self._brand = mail_from_name or product_name
        self._frontend = frontend_url.rstrip("/")
        self._templates = EmailTemplates(product_name, frontend_url)

    # ---- rendering ------------------------------------------------------

    def verify_url(self, code: str, user_id: str) -> str:
        """The front-end page that verifies an email address from the emailed link."""
        return (
            f"{self._frontend}/verify?code={quote(str(code), safe='')}"
            f"&userId={quote(str(user_id), safe='')}"
        )

    def verification_email(self, to: str, code: str, user_id: str, name: str | None) -> Email:
        email = self._templates.render(
            "verification",
            to,
            code=code,
            name=name,
            expires_minutes=CODE_MINUTES,
            verify_url=self.verify_url(code, user_id),
        )
        return with_subject(email, f"Verify your {self._brand} account")

    def login_code_email(self, to: str, code: str, username: str | None) -> Email:
        email = self._templates.render(
            "login-code", to, code=code, name=username, expires_minutes=CODE_MINUTES
        )
        return with_subject(email, f"{self._brand} Login Verification Code")

    def password_reset_email(self, to: str, code: str, name: str | None) -> Email:
        email = self._templates.render(
            "password-reset", to, code=code, email=to, name=name, expires_minutes=CODE_MINUTES
        )
        return with_subject(email, f"Reset your {self._brand} password")

    def preview_html(
        self, kind: str, values: Mapping[str, str | None], theme: str, simulate_dark: bool
    ) -> str:
        """``GET /api/email-preview``: a template rendered with (autoescaped) query values."""
        params = {key: values.get(key) or default for key, default in _PREVIEW_DEFAULTS.items()}
        if kind == "verification":
            email = self.verification_email(
                params["email"], params["code"], params["userId"], params["username"]
            )
        elif kind == "login":
            email = self.login_code_email(params["email"], params["code"], params["username"])
        else:
            email = self.password_reset_email(params["email"], params["code"], params["username"])
        html = email.html or ""
        # Only fixed strings are injected here: every query value went through autoescape.
        styles = f"body{{background:{_PREVIEW_THEMES.get(theme, _PREVIEW_THEMES['light'])}"
        styles += " !important;}"
        if simulate_dark:
            styles += "html{filter:invert(1) hue-rotate(180deg);}"
        style_tag = f"<style>{styles}</style>"
        if "</head>" in html:
            return html.replace("</head>", style_tag + "</head>", 1)
        return style_tag + html

    # ---- delivery -------------------------------------------------------

    async def _email(self, email: Email, what: str) -> None:
        if await self._test_mode.is_on():
            return
        try:
            await self._mailer.send(email)
        except Exception as exc:
            # No traceback: provider errors may echo the recipient or the message.
            log.warning("could not send %s email (%s)", what, type(exc).__name__)

    async def _text(self, phone: str, body: str, what: str) -> None:
        if await self._test_mode.is_on():
            return
        try:
            await self._sms.send(phone, body)
        except Exception as exc:
            log.warning(
                "could not send %s sms to %s (%s)", what, mask_phone(phone), type(exc).__name__
            )

    async def email_verification(
        self, to: str, code: str, user_id: str, name: str | None = None
    ) -> None:
        await self._email(self.verification_email(to, code, str(user_id), name), "verification")

    async def email_login_code(self, to: str, code: str, username: str | None = None) -> None:
        await self._email(self.login_code_email(to, code, username), "login-code")

    async def email_password_reset(self, to: str, code: str, name: str | None = None) -> None:
        await self._email(self.password_reset_email(to, code, name), "password-reset")

    async def sms_verification(self, phone: str, code: str) -> None:
        await self._text(phone, sms_verification_text(code, self._product), "verification")

    async def sms_login_code(self, phone: str, code: str) -> None:
        await self._text(phone, sms_login_text(code, self._product), "login-code")
