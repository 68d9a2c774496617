"""Outgoing SMS: Twilio when configured and enabled, otherwise JSON files in the outbox."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chatr_server.integrations.errors import DeliveryError
from chatr_server.util.outbox import write_outbox

if TYPE_CHECKING:
    from chatr_server.settings import Settings

log = logging.getLogger(__name__)

__all__ = [
    "DeliveryError",
    "SmsSender",
    "TwilioSmsSender",
    "create_sms_sender",
    "sms_login_text",
    "sms_verification_text",
]


def sms_verification_text(code: str, product: str) -> str:
    """Body of the phone-verification SMS."""
    return f"Your {product} verification code is {code}. Don't share it with anyone."


def sms_login_text(code: str, product: str) -> str:
    """Body of the login-code SMS."""
    return f"Your {product} login code is {code}. If you didn't try to sign in, ignore this."


def _masked(number: str) -> str:
    """Enough of a phone number to correlate logs, not enough to identify anyone."""
    return f"…{number[-2:]}" if len(number) > 4 else "…"


class SmsSender:
    """Sends text messages; this base version writes them to the outbox."""

    def __init__(self, outbox_dir: Path) -> None:
        self._outbox = outbox_dir

    async def send(self, to: str, body: str) -> None:
        path = await write_outbox(self._outbox, "sms", {"to": to, "body": body})
        log.info("sms written to outbox", extra={"outbox_file": str(path)})

    async def close(self) -> None:
        return None


class TwilioSmsSender(SmsSender):
    """Sends through Twilio's Messages API with its aiohttp-based client.

    The client (and its aiohttp session) is created on first use, inside the
    running event loop, and closed by :meth:`close`. Sends are not retried:
    a retry after a timeout could deliver the same code twice.
    """

    def __init__(self, settings: Settings, *, timeout: float = 15.0) -> None:
        super().__init__(settings.outbox_dir)
        sid, token, sender = (
            settings.twilio_account_sid,
            settings.twilio_auth_token,
            settings.twilio_from_number,
        )
        if not (sid and token and sender):
            raise ValueError("TwilioSmsSender needs TWILIO_ACCOUNT_SID, _AUTH_TOKEN, _FROM_NUMBER")
        self._sid = sid
        self._token = token
        self._from = sender
        self._api_base = settings.twilio_api_base.rstrip("/") if settings.twilio_api_base else None
        self._timeout = timeout
        self._client: Any = None
        self._http: Any = None

    def _get_client(self) -> Any:
        if self._client is None:
            from twilio.http.async_http_client import AsyncTwilioHttpClient
            from twilio.rest import Client

            self._http = AsyncTwilioHttpClient(timeout=self._timeout)
            client = Client(self._sid, self._token, http_client=self._http)
            if self._api_base:
                client.api.base_url = self._api_base
            self._client = client
        return self._client

    async def send(self, to: str, body: str) -> None:
        import aiohttp
        from twilio.base.exceptions import TwilioException, TwilioRestException

        client = self._get_client()
        try:
            message = await client.messages.create_async(to=to, from_=self._from, body=body)
        except TwilioRestException as exc:
            log.warning(
                "sms delivery failed",
                extra={
                    "error": "TwilioRestException",
                    "http_status": exc.status,
                    "twilio_code": exc.code,
                    "recipient": _masked(to),
                },
            )
            raise DeliveryError("sms could not be sent") from exc
        except (TwilioException, aiohttp.ClientError, OSError, TimeoutError) as exc:
            log.warning(
                "sms delivery failed",
                extra={"error": type(exc).__name__, "recipient": _masked(to)},
            )
            raise DeliveryError("sms could not be sent") from exc
        log.info("sms sent", extra={"message_sid": message.sid, "recipient": _masked(to)})

    async def close(self) -> None:
        http, self._http, self._client = self._http, None, None
        if http is not None:
            await http.close()


def create_sms_sender(settings: Settings) -> SmsSender:
    """Twilio when fully configured, enabled and not suppressed; otherwise the outbox."""
    configured = (
        settings.twilio_account_sid and settings.twilio_auth_token and settings.twilio_from_number
    )
    if configured and settings.enable_sms and not settings.suppress_sms:
        try:
            import twilio  # noqa: F401
        except ImportError:
            raise RuntimeError(
                "TWILIO_* is configured but the twilio package is missing: "
                "install the 'sms' extra (pip install -e '.[sms]')"
            ) from None
        return TwilioSmsSender(settings)
    return SmsSender(settings.outbox_dir)
