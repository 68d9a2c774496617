"""All configuration, read once from the environment and passed down explicitly.

Variable names follow the original Chatr server where one existed (``PORT``,
``DATABASE_URL``, ``REDIS_URL``, ``JWT_SECRET``, ``FRONTEND_URL``, ``S3_BUCKET``,
``AWS_REGION``, …) so an existing deployment's environment keeps working.

Each setting is declared once, as a field of :class:`Settings` made by
:func:`setting`: its environment variable, type (the annotation), default, a
one-line description and, where there is one, the rule its value must keep.
:meth:`Settings.from_env` and :meth:`Settings.validate` are driven by those
declarations; only rules between two settings are written out by hand.
Every variable is documented in ``conf/settings.md`` (a test keeps the two in step).
"""

from __future__ import annotations

import os
import secrets
import tempfile
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import Field, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

# A shorter HS256 key is brute-forceable offline from any issued token.
MIN_JWT_SECRET_LENGTH = 32
_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
_DATA_DIR = Path("var")
_UPLOADS_DIR = Path("uploads")


class ConfigError(ValueError):
    """Raised when the environment cannot produce a safe configuration."""


# ---- reading one variable -------------------------------------------------------------

Reader = Callable[[Mapping[str, str], str, Any], Any]


def _raw(env: Mapping[str, str], name: str) -> str | None:
    """The variable's text, or ``None`` when it is unset or blank (the default applies)."""
    raw = env.get(name)
    return None if raw is None or raw.strip() == "" else raw


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = _raw(env, name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ConfigError(f'Environment variable "{name}" invalid: not a boolean ({raw!r})')


def _number(kind: type[int] | type[float], what: str) -> Reader:
    def read(env: Mapping[str, str], name: str, default: Any) -> Any:
        raw = _raw(env, name)
        if raw is None:
            return default
        try:
            return kind(raw)
        except ValueError:
            raise ConfigError(
                f'Environment variable "{name}" invalid: not {what} ({raw!r})'
            ) from None

    return read


def _str(env: Mapping[str, str], name: str, default: str | None) -> str | None:
    raw = _raw(env, name)
    return default if raw is None else raw.strip()


def _path(env: Mapping[str, str], name: str, default: Path) -> Path:
    raw = _raw(env, name)
    return default if raw is None else Path(raw.strip())


def _list(env: Mapping[str, str], name: str, default: tuple[str, ...]) -> tuple[str, ...]:
    raw = _raw(env, name)
    if raw is None:
        return default
    return tuple(item.strip() for item in raw.split(",") if item.strip())


def _upper(env: Mapping[str, str], name: str, default: str) -> str:
    return (_str(env, name, default) or default).upper()


def _production(env: Mapping[str, str], name: str, default: bool) -> bool:
    """``production`` in ``NODE_ENV`` (the original's name) or ``CHATR_ENV``."""
    return any(
        (env.get(var) or "").strip().lower() == "production" for var in ("NODE_ENV", "CHATR_ENV")
    )


_READERS: dict[object, Reader] = {
    bool: _bool,
    int: _number(int, "an integer"),
    float: _number(float, "a number"),
    str: _str,
    Path: _path,
    tuple[str, ...]: _list,
}


# ---- declaring a setting ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Rule:
    """What a value must be, said as "<VARIABLE> must be <text>" when it is not."""

    text: str
    holds: Callable[[Any], bool]


def between(low: float, high: float, unit: str = "") -> Rule:
    return Rule(f"between {low} and {high}{unit}", lambda v: low <= v <= high)


def at_least(low: float) -> Rule:
    return Rule(f"at least {low}", lambda v: v >= low)


def one_of(*choices: str) -> Rule:
    return Rule(f"one of {', '.join(choices)}", lambda v: v in choices)


@dataclass(frozen=True, slots=True)
class Declared:
    """What :func:`setting` records about a field (``Settings.declared()`` lists them)."""

    name: str
    env: tuple[str, ...]
    default: Any
    help: str
    reader: Reader
    rule: Rule | None
    production_default: Any


def setting(
    env: str | tuple[str, ...],
    default: Any,
    help: str,
    *,
    rule: Rule | None = None,
    read: Reader | None = None,
    production_default: Any = None,
) -> Any:
    """Declare a setting: its variable(s), default, description and rule.

    ``read`` overrides the reader the annotation picks; ``production_default``, when
    given, replaces the default in production (the variable unset).
    """
    names = (env,) if isinstance(env, str) else env
    meta = {"env": names, "help": help, "rule": rule, "read": read, "prod": production_default}
    return field(default=default, metadata=meta)


@dataclass(frozen=True, slots=True)
class Settings:
    """Immutable application settings; build with :meth:`from_env`."""

    production: bool = setting(
        ("NODE_ENV", "CHATR_ENV"),
        False,
        "`production` turns on the production rules (secrets, CORS, docs, test mode, logs)",
        read=_production,
    )
    host: str = setting("HOST", "0.0.0.0", "address to bind")
    port: int = setting("PORT", 3001, "HTTP and Socket.IO port", rule=between(1, 65535))
    data_dir: Path = setting(
        "CHATR_DATA_DIR", _DATA_DIR, "local state: embedded PostgreSQL, dev secret, outbox"
    )

    database_url: str | None = setting("DATABASE_URL", None, "PostgreSQL URL (unset: embedded)")
    database_pool_size: int = setting("DATABASE_POOL_SIZE", 20, "maximum pool connections")
    database_pool_timeout: float = setting(
        "DATABASE_POOL_TIMEOUT", 10.0, "seconds to wait to connect or for a pooled connection"
    )
    # Group commit of message writes (services/group_commit.py).
    group_commit_window_ms: float = setting(
        "GROUP_COMMIT_WINDOW_MS",
        2.0,
        "under load, how long the first write of a batch waits for others (idle: none)",
        rule=between(0, 100),
    )
    max_pending_writes: int = setting(
        "MAX_PENDING_WRITES",
        1_000,
        "queued message writes per process beyond which sends are refused",
        rule=at_least(1),
    )

    redis_url: str | None = setting("REDIS_URL", None, "Redis URL (unset: in-process state)")
    redis_prefix: str = setting("REDIS_PREFIX", "chatr:", "key prefix in Redis")
    redis_cluster: bool = setting(
        "REDIS_CLUSTER", False, "REDIS_URL names a node of a Redis Cluster (docs/scaling.md)"
    )
    # Scale-out (docs/scaling.md): where the other processes reach this one's internal
    # listener. NODE_URL is advertised as is; otherwise http://NODE_HOST:<port>.
    node_url: str | None = setting("NODE_URL", None, "advertised internal URL of this process")
    node_host: str = setting("NODE_HOST", "127.0.0.1", "address of the internal listeners")
    node_port: int = setting("NODE_PORT", 0, "port of the internal listener (0: any)")
    workers: int = setting("WEB_WORKERS", 1, "processes sharing the port", rule=at_least(1))
    # A reconnect storm (every client of a restarted node at once) overflows a short
    # accept queue; each dropped SYN then waits 1, 3, 7 s for its retry.
    listen_backlog: int = setting(
        "LISTEN_BACKLOG",
        4096,
        "pending connections the kernel queues before accept (capped by net.core.somaxconn)",
        rule=at_least(1),
    )
    # Set by `serve --workers`: the private directory where workers hand websocket
    # connections to each other (not an environment variable).
    node_handoff_dir: str | None = None

    jwt_secret: str = setting("JWT_SECRET", "", "HS256 key for every token (dev: generated)")
    bcrypt_rounds: int = setting(
        "BCRYPT_ROUNDS", 10, "bcrypt cost for new password hashes", rule=between(4, 15)
    )

    frontend_url: str = setting(
        "FRONTEND_URL", "http://localhost:3000", "web client URL (email links, CORS)"
    )
    website_url: str | None = setting("WEBSITE_URL", None, "marketing site (CORS)")
    public_url: str | None = setting("PUBLIC_URL", None, "absolute base URL of this server")

    uploads_dir: Path = setting("UPLOADS_DIR", _UPLOADS_DIR, "local upload folder")
    s3_bucket: str | None = setting("S3_BUCKET", None, "S3 bucket for uploads")
    aws_region: str = setting("AWS_REGION", "eu-west-2", "S3 region")
    aws_access_key_id: str | None = setting("AWS_ACCESS_KEY_ID", None, "S3 credentials")
    aws_secret_access_key: str | None = setting("AWS_SECRET_ACCESS_KEY", None, "S3 credentials")
    s3_endpoint_url: str | None = setting("S3_ENDPOINT_URL", None, "S3-compatible endpoint")
    s3_public_url: str | None = setting("S3_PUBLIC_URL", None, "public base URL of the bucket")
    # Lifetime of the signed links that let <img>/<audio> tags load message attachments
    # (services/attachments.py): links are re-issued whenever messages are presented.
    attachment_link_ttl_s: int = setting(
        "ATTACHMENT_LINK_TTL",
        3600,
        "seconds a signed attachment link lives",
        rule=between(60, 7 * 86400, " seconds"),
    )

    smtp_host: str | None = setting("SMTP_HOST", None, "SMTP server (unset: outbox)")
    smtp_port: int = setting("SMTP_PORT", 587, "SMTP port")
    smtp_user: str | None = setting("SMTP_USER", None, "SMTP login")
    smtp_password: str | None = setting("SMTP_PASSWORD", None, "SMTP password")
    smtp_tls: bool = setting("SMTP_TLS", False, "implicit TLS")
    smtp_starttls: bool = setting("SMTP_STARTTLS", True, "upgrade with STARTTLS")
    mail_from_address: str = setting("MAIL_FROM_ADDRESS", "noreply@chatr.local", "sender")
    mail_from_name: str = setting("MAIL_FROM_NAME", "Chatr", "sender name")
    product_name: str = setting("PRODUCT_NAME", "Chatr", "product name in emails and SMS")
    contact_email: str | None = setting("CONTACT_EMAIL", None, "contact-form recipient")

    twilio_account_sid: str | None = setting("TWILIO_ACCOUNT_SID", None, "Twilio account")
    twilio_auth_token: str | None = setting("TWILIO_AUTH_TOKEN", None, "Twilio token")
    twilio_from_number: str | None = setting("TWILIO_FROM_NUMBER", None, "Twilio sender")
    twilio_api_base: str | None = setting("TWILIO_API_BASE", None, "Twilio API base URL")
    enable_sms: bool = setting("ENABLE_SMS", True, "`false`: no SMS at all")
    suppress_sms: bool = setting("SUPPRESS_SMS", False, "`true`: no SMS at all")

    swagger_user: str | None = setting("SWAGGER_USER", None, "production API docs login")
    swagger_pass: str | None = setting("SWAGGER_PASS", None, "production API docs password")
    # Without one, GET /metrics answers 404 in production (chatr_server/metrics.py).
    metrics_token: str | None = setting("METRICS_TOKEN", None, "production /metrics bearer token")

    # Never in production, whatever the variable says (from_env).
    test_mode_allowed: bool = setting(
        "CHATR_TEST_MODE", False, "test mode for the web client's e2e suite"
    )
    rate_limits_enabled: bool = setting("RATE_LIMITS_ENABLED", True, "auth rate limits")
    dev_phone_whitelist: tuple[str, ...] = setting(
        "DEV_PHONE_WHITELIST", (), "phone numbers that may register repeatedly"
    )
    trusted_proxy_hops: int = setting("TRUSTED_PROXY_HOPS", 0, "reverse proxies in front")
    max_json_body: int = setting("MAX_JSON_BODY", 100 * 1024, "largest JSON body in bytes")

    socket_ping_interval: float = setting("SOCKET_PING_INTERVAL", 25.0, "heartbeat, seconds")
    socket_ping_timeout: float = setting("SOCKET_PING_TIMEOUT", 20.0, "heartbeat, seconds")
    # Connection-state recovery (docs/realtime.md): on by default; 0 s window = off.
    connection_recovery: bool = setting(
        "CONNECTION_RECOVERY", True, "Socket.IO connection-state recovery"
    )
    recovery_window_s: float = setting(
        "RECOVERY_WINDOW_SECONDS",
        120.0,
        "how long a dropped connection stays recoverable",
        rule=between(1, 86400),
    )
    socket_max_payload: int = setting(
        "SOCKET_MAX_PAYLOAD", 1_000_000, "largest Engine.IO payload in bytes"
    )

    # Graceful drain on SIGTERM/SIGINT (chatr_server/serving.py): how long readiness
    # answers 503 while the node still serves, so a load balancer can take it out of
    # rotation; and the bound on the whole shutdown, grace included.
    shutdown_grace_seconds: float = setting(
        "SHUTDOWN_GRACE_SECONDS", 5.0, "readiness is 503 but the node still serves"
    )
    shutdown_timeout_seconds: float = setting(
        "SHUTDOWN_TIMEOUT_SECONDS",
        15.0,
        "bound on the whole shutdown",
        rule=Rule("between 0 and 3600", lambda v: 0 < v <= 3600),
    )

    log_level: str = setting(
        "LOG_LEVEL", "INFO", "log level", rule=one_of(*_LOG_LEVELS), read=_upper
    )
    log_json: bool = setting("LOG_JSON", False, "JSON log lines", production_default=True)
    cors_origins: tuple[str, ...] = setting("CORS_ORIGINS", (), "extra allowed origins")

    @classmethod
    def declared(cls) -> list[Declared]:
        """Every setting read from the environment, in declaration order."""
        return list(_DECLARED)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Parse settings from an environment mapping (``os.environ`` by default)."""
        env = os.environ if env is None else env
        production = _production(env, "NODE_ENV", False)
        values: dict[str, Any] = {}
        for item in _DECLARED:
            default = item.default
            if production and item.production_default is not None:
                default = item.production_default
            values[item.name] = item.reader(env, item.env[0], default)
        values["test_mode_allowed"] = values["test_mode_allowed"] and not production
        settings = cls(**values)
        settings.validate()
        return settings

    def validate(self) -> None:
        """Refuse values outside their declared rules, and unsafe combinations."""
        if self.production and len(self.jwt_secret) < MIN_JWT_SECRET_LENGTH:
            raise ConfigError(
                f"JWT_SECRET must be set to at least {MIN_JWT_SECRET_LENGTH} characters "
                "in production"
            )
        for item in _DECLARED:
            if item.rule is not None and not item.rule.holds(getattr(self, item.name)):
                raise ConfigError(f"{item.env[0]} must be {item.rule.text}")
        if self.workers > 1 and not self.redis_url:
            raise ConfigError("WEB_WORKERS > 1 needs REDIS_URL (fan-out and session routing)")
        if self.workers > 1 and self.node_url:
            raise ConfigError("NODE_URL names one process: unset it with WEB_WORKERS > 1")
        if not 0 <= self.shutdown_grace_seconds < self.shutdown_timeout_seconds:
            raise ConfigError(
                "SHUTDOWN_GRACE_SECONDS must be at least 0 and below SHUTDOWN_TIMEOUT_SECONDS"
            )

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


def _declare(field_: Field[Any], annotation: object) -> Declared:
    meta = field_.metadata
    reader = meta["read"]
    if reader is None:
        args = typing.get_args(annotation)
        if isinstance(annotation, types.UnionType):  # X | None
            annotation = next(a for a in args if a is not type(None))
        reader = _READERS[annotation]
    return Declared(
        name=field_.name,
        env=meta["env"],
        default=field_.default,
        help=meta["help"],
        reader=reader,
        rule=meta["rule"],
        production_default=meta["prod"],
    )


_HINTS = typing.get_type_hints(Settings)
_DECLARED: tuple[Declared, ...] = tuple(
    _declare(f, _HINTS[f.name]) for f in fields(Settings) if "env" in f.metadata
)


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
