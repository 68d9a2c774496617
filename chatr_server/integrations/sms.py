"""Outgoing SMS. Without Twilio settings, messages go to the outbox folder."""

from __future__ import annotations

import logging
from pathlib import Path

from chatr_server.util.outbox import write_outbox

log = logging.getLogger(__name__)


class SmsSender:
    """Sends text messages; this base version writes them to the outbox."""

    def __init__(self, outbox_dir: Path) -> None:
        self._outbox = outbox_dir

    async def send(self, to: str, body: str) -> None:
        path = await write_outbox(self._outbox, "sms", {"to": to, "body": body})
        log.info("sms written to outbox", extra={"outbox_file": str(path)})

    async def close(self) -> None:
        return None
