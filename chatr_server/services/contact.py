"""The public contact form (rest.md §12).

Submissions are stored, then mailed to ``CONTACT_EMAIL`` through the
autoescaped ``contact`` template (SEC-16: the original pasted the values into
HTML raw). The route is rate-limited per address by its handler (SEC-18).
"""

from __future__ import annotations

import dataclasses
import logging
import re
from typing import Any

import asyncpg

from chatr_server.errors import ServiceError, bad_request
from chatr_server.integrations.mail import Mailer
from chatr_server.integrations.templates import EmailTemplates
from chatr_server.repos.contact import ContactRepo
from chatr_server.services.auth import EMAIL_RE, MAX_EMAIL_LENGTH
from chatr_server.services.testmode import TestMode

log = logging.getLogger(__name__)

MAX_MESSAGE_CHARS = 5000
MAX_NAME_CHARS = 200
MAX_COMPANY_CHARS = 200
MAX_SUBJECT_CHARS = 200
REQUIRED = "Name, email, and message are required."


def _one_line(value: str) -> str:
    """Subjects carry user input: no line breaks (header injection), bounded length."""
    return re.sub(r"\s+", " ", value).strip()[:MAX_SUBJECT_CHARS]


def _text(body: dict[str, Any], key: str) -> str:
    value = body.get(key)
    if not isinstance(value, str) or not value.strip():
        raise bad_request(REQUIRED)
    return value.strip()


class ContactService:
    def __init__(
        self,
        pool: asyncpg.Pool,
        repo: ContactRepo,
        mailer: Mailer,
        templates: EmailTemplates,
        test_mode: TestMode,
        contact_email: str | None,
    ) -> None:
        self._pool = pool
        self._repo = repo
        self._mailer = mailer
        self._templates = templates
        self._test_mode = test_mode
        self._to = contact_email

    async def submit(self, body: dict[str, Any]) -> dict[str, Any]:
        name = _text(body, "name")
        email = _text(body, "email")
        message = _text(body, "message")
        company = body.get("company")
        if company is not None and not isinstance(company, str):
            raise bad_request("company must be a string")
        company = (company or "").strip() or None
        if len(email) > MAX_EMAIL_LENGTH or not EMAIL_RE.match(email):
            raise bad_request("Invalid email address.")
        if len(message) > MAX_MESSAGE_CHARS:
            raise bad_request(f"Message too long (max {MAX_MESSAGE_CHARS} characters).")
        if len(name) > MAX_NAME_CHARS:
            raise bad_request(f"Name too long (max {MAX_NAME_CHARS} characters).")
        if company is not None and len(company) > MAX_COMPANY_CHARS:
            raise bad_request(f"Company too long (max {MAX_COMPANY_CHARS} characters).")
        try:
            await self._repo.insert(self._pool, name, email, company, message)
        except (asyncpg.PostgresError, OSError):
            # The email is what matters to the sender; a lost row is only logged.
            log.exception("contact submission could not be stored")
        if not self._to:
            log.info("contact form submission received (CONTACT_EMAIL is not set)")
            return {"success": True}
        if await self._test_mode.is_on():
            return {"success": True}
        mail = self._templates.render(
            "contact", self._to, name=name, email=email, company=company, message=message
        )
        subject = f"{self._templates.product_name} Enquiry from {name}"
        if company:
            subject += f" ({company})"
        mail = dataclasses.replace(mail, subject=_one_line(subject))
        try:
            await self._mailer.send(mail)
        except Exception:
            log.warning("contact email could not be sent", exc_info=True)
            raise ServiceError(500, "Failed to send message. Please try again.") from None
        return {"success": True}
