"""SEC-2/SEC-3: a whole account's life logs no code, password, TOTP secret or token."""

from __future__ import annotations

import logging

import pyotp

from tests.auth.flows import CODE_RE, bearer, post, registered
from tests.helpers import PASSWORD

NEW_PASSWORD = "Fresh!Pass77"
# aiosmtpd is the test's stand-in mail server, not ours: it logs the DATA it receives.
PEER_LOGGERS = ("mail.log",)
_STANDARD = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


def _record_text(record: logging.LogRecord) -> str:
    """Everything a formatter could print: message, extras, exception and stack."""
    parts = [record.getMessage(), repr(record.args)]
    parts += [f"{k}={v!r}" for k, v in record.__dict__.items() if k not in _STANDARD]
    if record.exc_info:
        parts.append(logging.Formatter().formatException(record.exc_info))
    if record.exc_text:
        parts.append(record.exc_text)
    if record.stack_info:
        parts.append(record.stack_info)
    return "\n".join(parts)


def _all_loggers_at_debug(caplog) -> None:
    caplog.set_level(logging.DEBUG)
    for name, logger in list(logging.root.manager.loggerDict.items()):
        if isinstance(logger, logging.Logger) and logger.level not in (logging.NOTSET,):
            caplog.set_level(logging.DEBUG, logger=name)


async def test_full_flow_logs_no_secrets(make_peers, caplog):
    _all_loggers_at_debug(caplog)
    peers = await make_peers()
    client = peers.client
    secrets_seen: set[str] = {PASSWORD, NEW_PASSWORD}

    def sms_code(number: str) -> str:
        code = peers.last_sms_code(number)
        secrets_seen.add(code)
        return code

    def email_code(to: str) -> str:
        code = peers.last_email_code(to)
        secrets_seen.add(code)
        return code

    def token(body: dict) -> str:
        secrets_seen.add(body["token"])
        return body["token"]

    # Register with a phone, verify both.
    account = await registered(peers, phone=True)
    status, _ = await post(
        client, "/api/auth/verify-email", {"userId": account.id, "code": email_code(account.email)}
    )
    assert status == 200
    status, body = await post(
        client, "/api/auth/verify-phone", {"userId": account.id, "code": sms_code(account.phone)}
    )
    assert status == 200
    token(body)

    # Login by SMS, then by email, with a wrong guess and a resend on the way.
    await post(client, "/api/auth/login", account.creds)
    code = sms_code(account.phone)
    await post(client, "/api/auth/login", {**account.creds, "loginVerificationCode": "999999"})
    status, body = await post(
        client, "/api/auth/login", {**account.creds, "loginVerificationCode": code}
    )
    assert status == 200
    token(body)
    await post(client, "/api/auth/login", {**account.creds, "verificationMethod": "email"})
    email_code(account.email)
    await post(client, "/api/auth/resend-verification", {"userId": account.id, "type": "login"})
    status, body = await post(
        client,
        "/api/auth/login",
        {**account.creds, "loginVerificationCode": email_code(account.email)},
    )
    assert status == 200
    session = token(body)

    # Delivery failures are logged: still without the codes.
    peers.twilio.fail_with = 400
    await post(client, "/api/auth/login", account.creds)
    secrets_seen.add(CODE_RE.search(peers.twilio.requests[-1]["form"]["Body"]).group(1))
    peers.twilio.fail_with = None
    peers.smtp.reject_data = "554 5.7.1 rejected"
    await post(client, "/api/auth/login", {**account.creds, "verificationMethod": "email"})
    peers.smtp.reject_data = None

    # TOTP.
    resp = await client.post("/api/auth/2fa/setup", headers=bearer(session))
    setup = await resp.json()
    secrets_seen.update({setup["secret"], setup["otpauth"]})
    totp_code = pyotp.TOTP(setup["secret"]).now()
    secrets_seen.add(totp_code)
    resp = await client.post(
        "/api/auth/2fa/verify", json={"code": totp_code}, headers=bearer(session)
    )
    assert resp.status == 200
    token(await resp.json())

    # Forgot and reset the password, with a wrong code first.
    await post(client, "/api/auth/forgot-password", {"email": account.email})
    reset_code = email_code(account.email)
    await post(
        client,
        "/api/auth/reset-password",
        {"email": account.email, "code": "000001", "newPassword": NEW_PASSWORD},
    )
    status, _ = await post(
        client,
        "/api/auth/reset-password",
        {"email": account.email, "code": reset_code, "newPassword": NEW_PASSWORD},
    )
    assert status == 200
    resp = await client.get("/api/users/me", headers=bearer(session))
    assert resp.status == 403
    await client.post("/api/auth/logout", headers=bearer(session))

    records = [r for r in caplog.records if r.name not in PEER_LOGGERS]
    assert records, "the flow should have logged something"
    leaks = [
        (record.name, secret)
        for record in records
        for secret in secrets_seen
        if secret in _record_text(record)
    ]
    assert not leaks, leaks
