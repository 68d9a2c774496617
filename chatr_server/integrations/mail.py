"""Outgoing email. Without SMTP settings, messages go to the outbox folder."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from chatr_server.util.outbox import write_outbox

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Email:
    to: str
    subject: str
    text: str
    html: str | None = None


class Mailer:
    """Delivers :class:`Email` objects; this base version writes them to the outbox."""

    def __init__(self, outbox_dir: Path) -> None:
        self._outbox = outbox_dir

    async def send(self, email: Email) -> None:
        path = await write_outbox(
            self._outbox,
            "email",
            {"to": email.to, "subject": email.subject, "text": email.text, "html": email.html},
        )
        # The recipient address and body may carry codes: log only where it went.
        log.info("email written to outbox", extra={"outbox_file": str(path)})

    async def close(self) -> None:
        return None
