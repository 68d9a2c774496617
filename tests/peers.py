"""Real loopback peers: SMTP, a Twilio stand-in and S3 (moto).

A pytest plugin (registered in ``tests/conftest.py``): the integration tests, the
account-flow tests and the upload tests all use these fixtures; their classes are
imported from here.
"""

from __future__ import annotations

import base64
import ssl
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import pytest
from aiohttp import web

from tests.helpers import free_port  # aiosmtpd's self-check cannot use port 0

# --- SMTP ------------------------------------------------------------------------------


@dataclass
class SmtpSink:
    """What the aiosmtpd handler received."""

    host: str
    port: int
    messages: list[tuple[str, list[str], EmailMessage]] = field(default_factory=list)
    reject_data: str | None = None
    logins: list[tuple[str, str]] = field(default_factory=list)

    def authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
    ) -> Any:
        """An aiosmtpd authenticator accepting ``mailer``/``s3cret`` only."""
        from aiosmtpd.smtp import AuthResult

        login, password = auth_data.login.decode(), auth_data.password.decode()
        self.logins.append((login, password))
        return AuthResult(success=(login, password) == ("mailer", "s3cret"), handled=False)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.reject_data:
            return self.reject_data
        message = message_from_bytes(envelope.original_content, policy=policy.default)
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), message))
        return "250 OK"


@contextmanager
def run_smtp(sink: SmtpSink, **kwargs: Any) -> Iterator[SmtpSink]:
    """Run an aiosmtpd server for ``sink`` in its own thread (kwargs go to ``SMTP``)."""
    from aiosmtpd.controller import Controller

    controller = Controller(sink, hostname=sink.host, port=sink.port, **kwargs)
    controller.start()
    try:
        yield sink
    finally:
        controller.stop()


@pytest.fixture
def smtp_server() -> Iterator[SmtpSink]:
    with run_smtp(SmtpSink("127.0.0.1", free_port())) as sink:
        yield sink


# --- Twilio ----------------------------------------------------------------------------


@dataclass
class TwilioFake:
    """A stand-in for ``api.twilio.com`` that records message-create calls."""

    base_url: str = ""
    requests: list[dict[str, Any]] = field(default_factory=list)
    fail_with: int | None = None


@pytest.fixture
async def twilio_fake() -> AsyncIterator[TwilioFake]:
    fake = TwilioFake()

    async def create_message(request: web.Request) -> web.Response:
        form = await request.post()
        auth = request.headers.get("Authorization", "")
        user, _, password = (
            base64.b64decode(auth.removeprefix("Basic ")).decode().partition(":")
            if auth.startswith("Basic ")
            else ("", "", "")
        )
        fake.requests.append(
            {
                "sid": request.match_info["sid"],
                "form": dict(form),
                "user": user,
                "password": password,
            }
        )
        if fake.fail_with:
            return web.json_response(
                {"code": 21211, "message": "Invalid 'To' Phone Number", "status": fake.fail_with},
                status=fake.fail_with,
            )
        return web.json_response(
            {
                "sid": "SM" + "0" * 32,
                "account_sid": request.match_info["sid"],
                "to": form.get("To"),
                "from": form.get("From"),
                "body": form.get("Body"),
                "status": "queued",
            },
            status=201,
        )

    app = web.Application()
    app.router.add_post("/2010-04-01/Accounts/{sid}/Messages.json", create_message)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    fake.base_url = f"http://127.0.0.1:{port}"
    try:
        yield fake
    finally:
        await runner.cleanup()


# --- S3 --------------------------------------------------------------------------------


@dataclass(frozen=True)
class MotoS3:
    endpoint_url: str
    region: str = "us-east-1"
    access_key_id: str = "testing"
    secret_access_key: str = "testing"


@pytest.fixture(scope="session")
def moto_s3() -> Iterator[MotoS3]:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield MotoS3(endpoint_url=f"http://{host}:{port}")
    finally:
        server.stop()


# --- TLS -------------------------------------------------------------------------------


@dataclass(frozen=True)
class TlsPair:
    """A self-signed localhost certificate: a server context and a client that trusts it."""

    server: ssl.SSLContext
    client: ssl.SSLContext


@pytest.fixture(scope="session")
def tls_pair(tmp_path_factory: pytest.TempPathFactory) -> TlsPair:
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    folder = tmp_path_factory.mktemp("tls")
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(cert_path, key_path)
    client = ssl.create_default_context(cafile=str(cert_path))
    return TlsPair(server=server, client=client)
