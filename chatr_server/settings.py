"""All configuration, read once from the environment and passed down explicitly.

Variable names follow the original Chatr server where one existed (``PORT``,
``DATABASE_URL``, ``REDIS_URL``, ``JWT_SECRET``, ``FRONTEND_URL``, ``S3_BUCKET``,
``AWS_REGION``, …) so an existing deployment's environment keeps working.
Every variable is documented in ``conf/settings.md``.
"""

from __future__ import annotations

import os
import secrets
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

# A shorter HS256 key is brute-forceable offline from any issued token.
MIN_JWT_SECRET_LENGTH = 32
_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


class ConfigError(ValueError):
    """Raised when the environment cannot produce a safe configuration."""


def _bool(env: Mapping[str, str], name: str, default: bool = False) -> bool:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ConfigError(f'Environment variable "{name}" invalid: not a boolean ({raw!r})')


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(
            f'Environment variable "{name}" invalid: not an integer ({raw!r})'
        ) from None


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return float(raw)
    except ValueError:
        raise ConfigError(
            f'Environment variable "{name}" invalid: not a number ({raw!r})'
        ) from None


def _str(env: Mapping[str, str], name: str, default: str | None = None) -> str | None:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    return raw.strip()


def _list(env: Mapping[str, str], name: str) -> tuple[str, ...]:
    raw = env.get(name) or ""
    return tuple(item.strip() for item in raw.split(",") if item.strip())


@dataclass(frozen=True, slots=True)
class Settings:
    """Immutable application settings; build with :meth:`from_env`."""

    production: bool = False
    host: str = "0.0.0.0"
    port: int = 3001
    data_dir: Path = Path("var")

    database_url: str | None = None
    database_pool_size: int = 20
    database_pool_timeout: float = 10.0
    # Group commit of message writes (services/group_commit.py): how long the first
    # write of a batch waits for others, and how many queued writes are accepted.
    group_commit_window_ms: float = 2.0
    max_pending_writes: int = 1_000

    redis_url: str | None = None
    redis_prefix: str = "chatr:"
    # Scale-out (docs/scaling.md): where the other processes reach this one's internal
    # listener. NODE_URL is advertised as is; otherwise http://NODE_HOST:<port>.
    node_url: str | None = None
    node_host: str = "127.0.0.1"
    node_port: int = 0
    workers: int = 1
    # Set by `serve --workers`: the private directory where workers hand websocket
    # connections to each other (not an environment variable).
    node_handoff_dir: str | None = None

    jwt_secret: str = ""
    bcrypt_rounds: int = 10

    frontend_url: str = "http://localhost:3000"
    website_url: str | None = None
    public_url: str | None = None

    uploads_dir: Path = Path("uploads")
    s3_bucket: str | None = None
    aws_region: str = "eu-west-2"
    aws_access_key_id: str | None = None
    aws_secret_access_key: str | None = None
    s3_endpoint_url: str | None = None
    s3_public_url: str | None = None
    # Lifetime of the signed links that let <img>/<audio> tags load message attachments
    # (services/attachments.py): links are re-issued whenever messages are presented.
    attachment_link_ttl_s: int = 3600

    smtp_host: str | None = None
    smtp_port: int = 587
    smtp_user: str | None = None
    smtp_password: str | None = None
    smtp_tls: bool = False
    smtp_starttls: bool = True
    mail_from_address: str = "noreply@chatr.local"
    mail_from_name: str = "Chatr"
    product_name: str = "Chatr"
    contact_email: str | None = None

    twilio_account_sid: str | None = None
    twilio_auth_token: str | None = None
    twilio_from_number: str | None = None
    twilio_api_base: str | None = None
    enable_sms: bool = True
    suppress_sms: bool = False

    swagger_user: str | None = None
    swagger_pass: str | None = None
    # Bearer token of GET /metrics in production (without one, /metrics answers 404).
    metrics_token: str | None = None

    test_mode_allowed: bool = False
    rate_limits_enabled: bool = True
    dev_phone_whitelist: tuple[str, ...] = ()
    trusted_proxy_hops: int = 0
    max_json_body: int = 100 * 1024

    socket_ping_interval: float = 25.0
    socket_ping_timeout: float = 20.0
    # Connection-state recovery (docs/realtime.md): on by default; 0 s window = off.
    connection_recovery: bool = True
    recovery_window_s: float = 120.0
    socket_max_payload: int = 1_000_000

    # Graceful drain on SIGTERM/SIGINT (chatr_server/serving.py): how long readiness
    # answers 503 while the node still serves, so a load balancer can take it out of
    # rotation; and the bound on the whole shutdown, grace included.
    shutdown_grace_seconds: float = 5.0
    shutdown_timeout_seconds: float = 15.0

    log_level: str = "INFO"
    log_json: bool = False
    cors_origins: tuple[str, ...] = field(default=())

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Parse settings from an environment mapping (``os.environ`` by default)."""
        env = os.environ if env is None else env
        production = (env.get("NODE_ENV") or "").strip().lower() == "production" or (
            env.get("CHATR_ENV") or ""
        ).strip().lower() == "production"
        data_dir = Path(_str(env, "CHATR_DATA_DIR", "var") or "var")
        settings = cls(
            production=production,
            host=_str(env, "HOST", "0.0.0.0") or "0.0.0.0",
            port=_int(env, "PORT", 3001),
            data_dir=data_dir,
            database_url=_str(env, "DATABASE_URL"),
            database_pool_size=_int(env, "DATABASE_POOL_SIZE", 20),
            database_pool_timeout=_float(env, "DATABASE_POOL_TIMEOUT", 10.0),
            group_commit_window_ms=_float(env, "GROUP_COMMIT_WINDOW_MS", 2.0),
            max_pending_writes=_int(env, "MAX_PENDING_WRITES", 1_000),
            redis_url=_str(env, "REDIS_URL"),
            redis_prefix=_str(env, "REDIS_PREFIX", "chatr:") or "chatr:",
            node_url=_str(env, "NODE_URL"),
            node_host=_str(env, "NODE_HOST", "127.0.0.1") or "127.0.0.1",
            node_port=_int(env, "NODE_PORT", 0),
            workers=_int(env, "WEB_WORKERS", 1),
            jwt_secret=_str(env, "JWT_SECRET", "") or "",
            bcrypt_rounds=_int(env, "BCRYPT_ROUNDS", 10),
            frontend_url=_str(env, "FRONTEND_URL", "http://localhost:3000") or "",
            website_url=_str(env, "WEBSITE_URL"),
            public_url=_str(env, "PUBLIC_URL"),
            uploads_dir=Path(_str(env, "UPLOADS_DIR", "uploads") or "uploads"),
            s3_bucket=_str(env, "S3_BUCKET"),
            aws_region=_str(env, "AWS_REGION", "eu-west-2") or "eu-west-2",
            aws_access_key_id=_str(env, "AWS_ACCESS_KEY_ID"),
            aws_secret_access_key=_str(env, "AWS_SECRET_ACCESS_KEY"),
            s3_endpoint_url=_str(env, "S3_ENDPOINT_URL"),
            s3_public_url=_str(env, "S3_PUBLIC_URL"),
            attachment_link_ttl_s=_int(env, "ATTACHMENT_LINK_TTL", 3600),
            smtp_host=_str(env, "SMTP_HOST"),
            smtp_port=_int(env, "SMTP_PORT", 587),
            smtp_user=_str(env, "SMTP_USER"),
            smtp_password=_str(env, "SMTP_PASSWORD"),
            smtp_tls=_bool(env, "SMTP_TLS", False),
            smtp_starttls=_bool(env, "SMTP_STARTTLS", True),
            mail_from_address=_str(env, "MAIL_FROM_ADDRESS", "noreply@chatr.local") or "",
            mail_from_name=_str(env, "MAIL_FROM_NAME", "Chatr") or "Chatr",
            product_name=_str(env, "PRODUCT_NAME", "Chatr") or "Chatr",
            contact_email=_str(env, "CONTACT_EMAIL"),
            twilio_account_sid=_str(env, "TWILIO_ACCOUNT_SID"),
            twilio_auth_token=_str(env, "TWILIO_AUTH_TOKEN"),
            twilio_from_number=_str(env, "TWILIO_FROM_NUMBER"),
            twilio_api_base=_str(env, "TWILIO_API_BASE"),
            enable_sms=_bool(env, "ENABLE_SMS", True),
            suppress_sms=_bool(env, "SUPPRESS_SMS", False),
            swagger_user=_str(env, "SWAGGER_USER"),
            swagger_pass=_str(env, "SWAGGER_PASS"),
            metrics_token=_str(env, "METRICS_TOKEN"),
            test_mode_allowed=_bool(env, "CHATR_TEST_MODE", False) and not production,
            rate_limits_enabled=_bool(env, "RATE_LIMITS_ENABLED", True),
            dev_phone_whitelist=_list(env, "DEV_PHONE_WHITELIST"),
            trusted_proxy_hops=_int(env, "TRUSTED_PROXY_HOPS", 0),
            max_json_body=_int(env, "MAX_JSON_BODY", 100 * 1024),
            socket_ping_interval=_float(env, "SOCKET_PING_INTERVAL", 25.0),
            socket_ping_timeout=_float(env, "SOCKET_PING_TIMEOUT", 20.0),
            connection_recovery=_bool(env, "CONNECTION_RECOVERY", True),
            recovery_window_s=_float(env, "RECOVERY_WINDOW_SECONDS", 120.0),
            socket_max_payload=_int(env, "SOCKET_MAX_PAYLOAD", 1_000_000),
            shutdown_grace_seconds=_float(env, "SHUTDOWN_GRACE_SECONDS", 5.0),
            shutdown_timeout_seconds=_float(env, "SHUTDOWN_TIMEOUT_SECONDS", 15.0),
            log_level=(_str(env, "LOG_LEVEL", "INFO") or "INFO").upper(),
            log_json=_bool(env, "LOG_JSON", production),
            cors_origins=_list(env, "CORS_ORIGINS"),
        )
        settings.validate()
        return settings

    def validate(self) -> None:
        """Refuse configurations that are unsafe in production."""
        if self.production:
            if len(self.jwt_secret) < MIN_JWT_SECRET_LENGTH:
                raise ConfigError(
                    f"JWT_SECRET must be set to at least {MIN_JWT_SECRET_LENGTH} characters "
                    "in production"
                )
        if not 1 <= self.port <= 65535:
            raise ConfigError("PORT must be between 1 and 65535")
        if self.workers < 1:
            raise ConfigError("WEB_WORKERS must be at least 1")
        if self.workers > 1 and not self.redis_url:
            raise ConfigError("WEB_WORKERS > 1 needs REDIS_URL (fan-out and session routing)")
        if self.workers > 1 and self.node_url:
            raise ConfigError("NODE_URL names one process: unset it with WEB_WORKERS > 1")
        if self.bcrypt_rounds < 4 or self.bcrypt_rounds > 15:
            raise ConfigError("BCRYPT_ROUNDS must be between 4 and 15")
        if not 0 <= self.group_commit_window_ms <= 100:
            raise ConfigError("GROUP_COMMIT_WINDOW_MS must be between 0 and 100")
        if self.max_pending_writes < 1:
            raise ConfigError("MAX_PENDING_WRITES must be at least 1")
        if not 1 <= self.recovery_window_s <= 86400:
            raise ConfigError("RECOVERY_WINDOW_SECONDS must be between 1 and 86400")
        if not 60 <= self.attachment_link_ttl_s <= 7 * 86400:
            raise ConfigError("ATTACHMENT_LINK_TTL must be between 60 and 604800 seconds")
        if not 0 < self.shutdown_timeout_seconds <= 3600:
            raise ConfigError("SHUTDOWN_TIMEOUT_SECONDS must be between 0 and 3600")
        if not 0 <= self.shutdown_grace_seconds < self.shutdown_timeout_seconds:
            raise ConfigError(
                "SHUTDOWN_GRACE_SECONDS must be at least 0 and below SHUTDOWN_TIMEOUT_SECONDS"
            )
        if self.log_level not in _LOG_LEVELS:
            raise ConfigError(f"LOG_LEVEL must be one of {', '.join(_LOG_LEVELS)}")

    def with_dev_secret(self) -> Settings:
        """Outside production, generate a JWT secret once and keep it in the data folder.

        A stable secret means tokens survive restarts of a development server.
        """
        if self.jwt_secret or self.production:
            return self
        path = self.data_dir / "jwt_secret"
        if not path.exists():
            _publish_once(path, secrets.token_urlsafe(48))
        return replace(self, jwt_secret=path.read_text().strip())

    @property
    def outbox_dir(self) -> Path:
        """Where email and SMS land when no provider is configured."""
        return self.data_dir / "outbox"

    @property
    def allowed_origins(self) -> tuple[str, ...]:
        """The production CORS allow-list (the contract's README)."""
        origins: list[str] = list(self.cors_origins)
        for url in (self.frontend_url, self.website_url):
            if not url:
                continue
            origins.append(url.rstrip("/"))
            if "://" in url and "://www." not in url:
                _scheme, rest = url.split("://", 1)
                origins.append(f"https://www.{rest.rstrip('/')}")
        origins += ["http://localhost:3000", "http://localhost:3001", "http://localhost:3002"]
        return tuple(dict.fromkeys(origins))


def _publish_once(path: Path, text: str) -> None:
    """Create `path` holding `text`, readable by the owner only, unless it already exists.

    The file is written under a private name and hard-linked into place, so a
    process starting at the same moment (`serve --workers`, two `migrate`s)
    either wins the link or reads the winner's complete file, never a half-written one.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
    finally:
        os.unlink(tmp)
