"""Registration, verification, login, logout and password reset (rest.md §2, behaviors.md §1–2).

Every one-time code goes through :class:`CodeService` (hashed, expiring, single
use, a few wrong guesses); the test-mode ``000000`` bypass applies only to
login, verify-email and verify-phone. ``reset-password`` is a rewrite addition:
the original emailed reset codes that nothing could consume.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import asyncpg

from chatr_server.errors import ServiceError, bad_request, conflict, not_found, unauthorized
from chatr_server.presenters.users import login_user, verified_user
from chatr_server.repos.users import UsersRepo
from chatr_server.services.bus import EventBus
from chatr_server.services.codes import CODE_TTL, CodeCheck, CodeService
from chatr_server.services.messaging import SenderProfile, connection_profile_of
from chatr_server.services.notify import Notifier
from chatr_server.services.passwords import MAX_PASSWORD_BYTES, PasswordHasher
from chatr_server.services.ratelimit import RateLimiter
from chatr_server.services.read_batch import ReadBatcher
from chatr_server.services.testmode import TestMode
from chatr_server.services.tokens import TokenClaims, TokenError, TokenService, token_hash
from chatr_server.util.ids import parse_uuid
from chatr_server.util.timefmt import utcnow

EMAIL_RE = re.compile(r"^[^\s@]+@[^\s@]+\.[^\s@]+$")
USERNAME_RE = re.compile(r"^@[a-zA-Z0-9_]{3,20}$")
SPECIAL_CHARS_RE = re.compile(r'[!@#$%^&*(),.?":{}|<>]')
GENDERS = ("male", "female", "non-binary", "prefer-not-to-say")
MAX_EMAIL_LENGTH = 254
MAX_NAME_LENGTH = 100

# An unverified account younger than this is protected from being re-registered
# by someone who does not know its password (SEC-9). Older ones are abandoned.
UNVERIFIED_PROTECTION = CODE_TTL * 4


FORGOT_PASSWORD_MESSAGE = (
    "If an account exists with that email, a password reset link has been sent."
)
INVALID_RESET_CODE = "Invalid or expired reset code"


def check_password_rules(password: str) -> None:
    """The contract's password rules (register and reset share them)."""
    if len(password) < 8:
        raise bad_request("Password must be at least 8 characters")
    if len(password.encode()) > MAX_PASSWORD_BYTES:
        raise bad_request(f"Password must be at most {MAX_PASSWORD_BYTES} bytes")
    if not re.search(r"[A-Z]", password):
        raise bad_request("Password must include at least one capital letter")
    if not SPECIAL_CHARS_RE.search(password):
        raise bad_request("Password must include at least one special character")


def normalize_username(raw: str) -> str:
    raw = raw.strip()
    return raw if raw.startswith("@") else "@" + raw


def normalize_phone(raw: str) -> str | None:
    """The contract's UK mobile rule; returns the stored E.164 form or ``None``."""
    cleaned = re.sub(r"[^\d+]", "", raw)
    if cleaned.startswith("+44") and 13 <= len(cleaned) <= 15:
        return cleaned
    if cleaned.startswith("07") and len(cleaned) == 11:
        return "+44" + cleaned[1:]
    return None


# SEC-23: what a widget guest's token gets outside the routes and events allowed to it.
GUEST_REFUSED = "Not available to guest sessions"


@dataclass(frozen=True, slots=True)
class AuthenticatedUser:
    id: str
    username: str | None
    token: str
    claims: TokenClaims
    #: A widget guest (SEC-23: only the widget's routes and events accept it).
    is_guest: bool = False


@dataclass(frozen=True, slots=True)
class SocketLogin:
    """A socket handshake's user and what its connect sequence needs."""

    user: AuthenticatedUser
    token_hash: str
    #: None when the token's user no longer exists.
    profile: SenderProfile | None
    hidden: bool
    #: C(u) − P(u) (behaviors.md §3) at handshake time, sorted.
    visible: list[str]


@dataclass(frozen=True, slots=True)
class SocketLogout:
    """What a user's last disconnect stored, and whom its sequence tells."""

    #: The ``last_seen`` stored (the offline ``user:status`` carries it).
    last_seen: datetime
    #: C(u) − P(u) (behaviors.md §3) now, sorted.
    visible: list[str]
    #: Calls ended by this disconnect: ``id``, ``caller_id``, ``receiver_id`` (text) and
    #: ``duration``.
    calls: list[dict[str, Any]]


class AuthService:
    def __init__(
        self,
        pool: asyncpg.Pool,
        users: UsersRepo,
        tokens: TokenService,
        passwords: PasswordHasher,
        codes: CodeService,
        notifier: Notifier,
        test_mode: TestMode,
        phone_whitelist: tuple[str, ...] = (),
        *,
        bus: EventBus,
        rate_limiter: RateLimiter | None = None,
    ) -> None:
        self._pool = pool
        self._users = users
        self._tokens = tokens
        self._passwords = passwords
        self._codes = codes
        self._notify = notifier
        self._test_mode = test_mode
        self._whitelist = {normalize_phone(p) or p for p in phone_whitelist}
        # Per-account throttles (SEC-9); the per-IP limits live in the handlers.
        self._limiter = rate_limiter
        self._bus = bus
        self._socket_logins: ReadBatcher[tuple[UUID, str], asyncpg.Record] = ReadBatcher(
            self._run_socket_logins
        )
        self._socket_logouts: ReadBatcher[str, SocketLogout] = ReadBatcher(self._run_socket_logouts)

    # ---- tokens -------------------------------------------------------

    async def authenticate(self, token: str) -> AuthenticatedUser:
        """Verify a bearer token: signature, expiry, logout and password resets."""
        claims, user_id = self._verified_claims(token)
        row = await self._users.auth_state(self._pool, user_id, token_hash(token))
        return self._authenticated(token, claims, user_id, row)

    async def socket_login(self, token: str) -> SocketLogin:
        """:meth:`authenticate` for a socket handshake, with what the connect sequence reads.

        Concurrent handshakes share one query (:class:`ReadBatcher`): the token's
        state, the user row and the user's visible peers for all of them in one
        round trip. Same refusals as :meth:`authenticate`; ``profile`` is None
        when the token's user is gone.
        """
        claims, user_id = self._verified_claims(token)
        digest = token_hash(token)
        row = await self._socket_logins.get((user_id, digest))
        user = self._authenticated(token, claims, user_id, row)
        if not row["user_exists"]:
            return SocketLogin(user, digest, None, False, [])
        me, hidden = connection_profile_of(row)
        return SocketLogin(user, digest, me, hidden, row["visible"])

    async def _run_socket_logins(self, keys: list[tuple[UUID, str]]) -> list[asyncpg.Record]:
        return await self._users.socket_logins(
            self._pool, [user_id for user_id, _ in keys], [digest for _, digest in keys]
        )

    async def socket_logout(self, user_id: str) -> SocketLogout:
        """The database side of a user's last disconnect: ``last_seen`` stored, live calls
        ended, the peers to tell. Concurrent disconnects share one statement
        (:class:`ReadBatcher`), as handshakes do: a disconnect storm (a network blip,
        a drain) costs the database a few statements, not three per user."""
        return await self._socket_logouts.get(user_id)

    async def _run_socket_logouts(self, user_ids: list[str]) -> list[SocketLogout]:
        # A user can leave twice in one batch (reconnected and left again): one row
        # each, the calls reported once.
        distinct = list(dict.fromkeys(user_ids))
        now = utcnow()
        rows = await self._users.socket_logouts(self._pool, [UUID(u) for u in distinct], now)
        by_user = dict(zip(distinct, rows, strict=True))
        reported: set[str] = set()
        out = []
        for user_id in user_ids:
            row = by_user[user_id]
            calls = [] if user_id in reported else row["calls"]
            reported.add(user_id)
            out.append(SocketLogout(now, row["visible"], calls))
        return out

    def _verified_claims(self, token: str) -> tuple[TokenClaims, UUID]:
        """The claims of a well-signed, unexpired token naming a user id; else 403."""
        try:
            claims = self._tokens.decode(token)
        except TokenError:
            raise ServiceError(403, "Invalid or expired token") from None
        user_id = parse_uuid(claims.user_id)
        if user_id is None:
            raise ServiceError(403, "Invalid or expired token")
        return claims, user_id

    @staticmethod
    def _authenticated(
        token: str, claims: TokenClaims, user_id: UUID, row: asyncpg.Record
    ) -> AuthenticatedUser:
        """The user of a token whose state is ``row``; 403 when logged out or reset since."""
        if row["revoked"]:
            raise ServiceError(403, "Token has been revoked")
        valid_after = row["tokens_valid_after"]
        if valid_after is not None and claims.issued_at < valid_after.timestamp():
            raise ServiceError(403, "Token has been revoked")
        return AuthenticatedUser(
            str(user_id), claims.username, token, claims, is_guest=bool(row["is_guest"])
        )

    async def logout(self, user: AuthenticatedUser) -> dict[str, Any]:
        """Revoke the token and close the sockets it opened, on every node (SEC-24)."""
        expires = datetime.fromtimestamp(user.claims.expires_at, UTC)
        digest = token_hash(user.token)
        await self._users.revoke_token(self._pool, digest, expires)
        self._bus.disconnect_token(digest)
        return {"message": "Logged out successfully"}

    def _login_success(self, row: asyncpg.Record) -> dict[str, Any]:
        token = self._tokens.issue_user_token(str(row["id"]), row["username"])
        return {"message": "Login successful", "token": token, "user": login_user(row)}

    # ---- register -----------------------------------------------------

    @staticmethod
    def _validate_registration(body: dict[str, Any]) -> dict[str, Any]:
        email = (body.get("email") or "").strip() or None
        phone_raw = (body.get("phoneNumber") or "").strip() or None
        username = body.get("username") or ""
        password = body.get("password") or ""
        first = (body.get("firstName") or "").strip()
        last = (body.get("lastName") or "").strip()
        gender = body.get("gender") or None

        if not (email or phone_raw) or not username or not password:
            raise bad_request("Email or phone number, username, and password are required")
        if not first:
            raise bad_request("First name is required")
        if not last:
            raise bad_request("Last name is required")
        if gender is not None and gender not in GENDERS:
            raise bad_request("Invalid gender value")
        if email is not None and (len(email) > MAX_EMAIL_LENGTH or not EMAIL_RE.match(email)):
            raise bad_request("Invalid email format")
        phone = None
        if phone_raw is not None:
            phone = normalize_phone(phone_raw)
            if phone is None:
                raise bad_request("Invalid phone number format")
        username = normalize_username(username)
        if not USERNAME_RE.match(username):
            raise bad_request("Username must be 3-20 characters, alphanumeric and underscores only")
        check_password_rules(password)
        if len(first) > MAX_NAME_LENGTH or len(last) > MAX_NAME_LENGTH:
            raise bad_request(f"Names must be at most {MAX_NAME_LENGTH} characters")
        return {
            "email": email,
            "phone": phone,
            "username": username,
            "password": password,
            "first": first,
            "last": last,
            "gender": gender,
        }

    async def _may_overwrite(self, existing: asyncpg.Record, password: str) -> bool:
        """Only the same person (same password) or an abandoned account may be re-registered."""
        if utcnow() - existing["created_at"] > UNVERIFIED_PROTECTION:
            return True
        return await self._passwords.verify(password, existing["password_hash"])

    async def register(self, body: dict[str, Any]) -> dict[str, Any]:
        data = self._validate_registration(body)
        email, phone, username = data["email"], data["phone"], data["username"]
        whitelisted = phone is not None and phone in self._whitelist
        password_hash = await self._passwords.hash(data["password"])
        display_name = f"{data['first']} {data['last']}"

        async with self._pool.acquire() as conn, conn.transaction():
            target = None
            if email is not None:
                existing = await self._users.by_email_exact(conn, email)
                if existing is not None:
                    if existing["email_verified"]:
                        raise conflict("Email already registered and verified. Please login.")
                    target = existing
            if phone is not None and not whitelisted:
                if await self._users.phone_verified_exists(conn, phone):
                    raise conflict("Phone number already registered and verified. Please login.")
                if target is None:
                    target = await self._users.unverified_by_phone(conn, phone)
            owner = await self._users.id_by_username(conn, username)
            if owner is not None and (target is None or owner != target["id"]):
                raise conflict("Username already taken")
            if target is not None and not await self._may_overwrite(target, data["password"]):
                raise conflict(
                    "An account with these details is awaiting verification. "
                    "Check your email for the code, or log in with its password."
                )
            values = (
                email or (target["email"] if target is not None else None),
                phone,
                username,
                display_name,
                data["first"],
                data["last"],
                password_hash,
                data["gender"],
            )
            try:
                if target is not None:
                    user_id = target["id"]
                    await self._users.overwrite_unverified(conn, user_id, values)
                else:
                    user_id = await self._users.insert(conn, values)
            except asyncpg.UniqueViolationError as exc:
                if "email" in (exc.constraint_name or ""):
                    raise conflict("Email already registered") from None
                raise conflict("Username already taken") from None
            code = await self._codes.issue(conn, user_id, "email")
        if email is not None:
            await self._notify.email_verification(email, code, str(user_id), data["first"])
        return {
            "message": (
                "User registered successfully. Please check your email for verification code."
            ),
            "userId": str(user_id),
            "requiresEmailVerification": True,
        }

    # ---- login --------------------------------------------------------

    async def _find_login_user(self, conn: asyncpg.Connection, identifier: str) -> Any:
        ident = identifier.strip().lower()
        if "@" in ident and "." in ident:
            return await self._users.by_email_ci(conn, ident)
        return await self._users.by_username_ci(conn, normalize_username(ident))

    async def login(self, body: dict[str, Any]) -> dict[str, Any]:
        identifier = body.get("email") or ""
        password = body.get("password") or ""
        code = body.get("loginVerificationCode") or None
        method = "sms" if body.get("verificationMethod", "sms") in (None, "sms") else "email"
        if not identifier or not password:
            raise bad_request("Email/username and password are required")

        async with self._pool.acquire() as conn:
            user = await self._find_login_user(conn, identifier)
            ok = await self._passwords.verify(password, user["password_hash"] if user else None)
            if user is None or not ok:
                raise unauthorized("Invalid credentials")
            user_id = user["id"]

            if await self._test_mode.bypasses(code):
                return self._login_success(user)

            if not user["email_verified"]:
                new_code = await self._codes.issue(conn, user_id, "email")
                if user["email"]:
                    await self._notify.email_verification(
                        user["email"], new_code, str(user_id), user["first_name"]
                    )
                return {
                    "requiresEmailVerification": True,
                    "message": "Please verify your email before logging in",
                    "userId": str(user_id),
                }
            if not user["phone_verified"]:
                new_code = await self._codes.issue(conn, user_id, "phone")
                if user["phone_number"]:
                    await self._notify.sms_verification(user["phone_number"], new_code)
                return {
                    "requiresPhoneVerification": True,
                    "message": "Please verify your phone number before logging in",
                    "userId": str(user_id),
                }
            if code is not None:
                result = await self._codes.check(conn, user_id, "login", str(code))
                if result is CodeCheck.OK:
                    return self._login_success(user)
                if result is CodeCheck.MISSING:
                    raise bad_request("No verification code found. Please log in again.")
                if result is CodeCheck.EXPIRED:
                    raise unauthorized("Verification code has expired. Please log in again.")
                if result is CodeCheck.LOCKED:
                    raise ServiceError(429, "Too many incorrect codes. Please log in again.")
                raise unauthorized("Invalid verification code")

            if method == "sms" and not user["phone_number"]:
                raise bad_request("No phone number on file. Please use email verification.")
            await self._users.set_login_method(conn, user_id, method)
            new_code = await self._codes.issue(conn, user_id, "login", method)
        if method == "sms":
            await self._notify.sms_login_code(user["phone_number"], new_code)
            message = "Please check your phone for the verification code"
        else:
            if user["email"]:
                await self._notify.email_login_code(user["email"], new_code, user["username"])
            message = "Please check your email for the verification code"
        return {
            "requiresLoginVerification": True,
            "verificationMethod": method,
            "message": message,
            "userId": str(user_id),
        }

    # ---- verification -------------------------------------------------

    async def _check_code(
        self, conn: asyncpg.Connection, user_id: Any, purpose: str, code: str
    ) -> None:
        if await self._test_mode.bypasses(code):
            await self._codes.discard(conn, user_id, purpose)
            return
        result = await self._codes.check(conn, user_id, purpose, code)
        if result is CodeCheck.OK:
            return
        if result is CodeCheck.EXPIRED:
            raise unauthorized("Verification code expired. Please request a new one.")
        if result is CodeCheck.LOCKED:
            raise ServiceError(429, "Too many incorrect codes. Please request a new one.")
        raise unauthorized("Invalid verification code")

    async def verify_email(self, body: dict[str, Any]) -> dict[str, Any]:
        raw_id, code = body.get("userId"), body.get("code")
        if not raw_id or not code:
            raise bad_request("User ID and code are required")
        user_id = parse_uuid(raw_id)
        async with self._pool.acquire() as conn:
            user = await self._existing_user(conn, user_id)
            if user["email_verified"]:
                raise bad_request("Email already verified")
            await self._check_code(conn, user_id, "email", str(code))
            await self._users.mark_email_verified(conn, user_id)
            user = await self._users.by_id(conn, user_id)
            if user["phone_number"] is None or user["phone_verified"]:
                token = self._tokens.issue_user_token(str(user_id), user["username"])
                return {
                    "message": "Email verified successfully. Registration complete!",
                    "token": token,
                    "user": verified_user(user),
                }
            phone_code = await self._codes.issue(conn, user_id, "phone")
        await self._notify.sms_verification(user["phone_number"], phone_code)
        return {
            "message": "Email verified successfully. Please verify your phone number.",
            "requiresPhoneVerification": True,
            "phoneNumber": user["phone_number"],
            "userId": str(user_id),
        }

    async def _existing_user(self, conn: Any, user_id: Any) -> Any:
        """The user row of a code-flow request, or the contract's 404."""
        user = await self._users.by_id(conn, user_id) if user_id else None
        if user is None:
            raise not_found("User not found")
        return user

    async def verify_phone(self, body: dict[str, Any]) -> dict[str, Any]:
        raw_id, code = body.get("userId"), body.get("code")
        if not raw_id or not code:
            raise bad_request("User ID and code are required")
        user_id = parse_uuid(raw_id)
        async with self._pool.acquire() as conn:
            user = await self._existing_user(conn, user_id)
            if not user["email_verified"]:
                raise bad_request("Please verify your email first")
            if user["phone_verified"]:
                raise bad_request("Phone already verified")
            await self._check_code(conn, user_id, "phone", str(code))
            await self._users.mark_phone_verified(conn, user_id)
            user = await self._users.by_id(conn, user_id)
        token = self._tokens.issue_user_token(str(user_id), user["username"])
        return {
            "message": "Phone verified successfully. Registration complete!",
            "token": token,
            "user": verified_user(user),
        }

    # ---- resend -------------------------------------------------------

    async def resend_verification(self, body: dict[str, Any]) -> dict[str, Any]:
        raw_id, kind = body.get("userId"), body.get("type")
        if not raw_id or not kind:
            raise bad_request("userId and type are required")
        user_id = parse_uuid(raw_id)
        async with self._pool.acquire() as conn:
            user = await self._existing_user(conn, user_id)
            if kind == "email":
                if user["email_verified"]:
                    raise bad_request("Email already verified")
            elif kind != "login":
                raise bad_request('Invalid type. Must be "email" or "login".')
            if self._limiter is not None:
                # Anyone may name any user id: cap the mail/SMS one account can be sent.
                await self._limiter.hit("resend-user", str(user_id))
            # The login code goes out the way the last login asked for it (default email).
            method = user["login_verification_method"] or "email"
            if kind == "email":
                code = await self._codes.issue(conn, user_id, "email")
            else:
                code = await self._codes.issue(conn, user_id, "login", method)
        if kind == "email":
            if user["email"]:
                await self._notify.email_verification(
                    user["email"], code, str(user_id), user["first_name"]
                )
        elif method == "sms" and user["phone_number"]:
            await self._notify.sms_login_code(user["phone_number"], code)
        elif user["email"]:
            await self._notify.email_login_code(user["email"], code, user["username"])
        return {"message": "Verification code resent"}

    # ---- password reset -----------------------------------------------

    async def forgot_password(self, body: dict[str, Any]) -> dict[str, Any]:
        """Email a reset code and link; the answer never says whether the account exists."""
        email = body.get("email")
        if not email:
            raise bad_request("Email is required")
        async with self._pool.acquire() as conn:
            user = await self._users.by_email_exact(conn, email)
            if user is None:
                return {"message": FORGOT_PASSWORD_MESSAGE}
            if self._limiter is not None and not await self._limiter.allow(
                "forgot-pw-user", str(user["id"])
            ):
                # Throttled silently: a different answer would reveal the account.
                return {"message": FORGOT_PASSWORD_MESSAGE}
            code = await self._codes.issue(conn, user["id"], "reset")
        await self._notify.email_password_reset(user["email"], code, user["username"])
        return {"message": FORGOT_PASSWORD_MESSAGE}

    async def reset_password(self, body: dict[str, Any]) -> dict[str, Any]:
        """Consume a reset code, set the new password and revoke every earlier token."""
        email = body.get("email")
        code = body.get("code")
        new_password = body.get("newPassword") or body.get("password")
        if not email or not code or not new_password:
            raise bad_request("Email, code and new password are required")
        # Rules first: a password the rules refuse must not burn the code.
        check_password_rules(new_password)
        async with self._pool.acquire() as conn:
            user = await self._users.by_email_exact(conn, email)
            if user is None:
                raise unauthorized(INVALID_RESET_CODE)
            user_id = user["id"]
            result = await self._codes.check(conn, user_id, "reset", str(code))
            if result is CodeCheck.EXPIRED:
                raise unauthorized("Reset code expired. Please request a new one.")
            if result is CodeCheck.LOCKED:
                raise ServiceError(429, "Too many incorrect codes. Please request a new one.")
            if result is not CodeCheck.OK:
                raise unauthorized(INVALID_RESET_CODE)
            password_hash = await self._passwords.hash(new_password)
            async with conn.transaction():
                valid_after = await self._users.reset_password(conn, user_id, password_hash)
                # A login half-way through (code sent, not yet used) must start again.
                await self._codes.discard(conn, user_id, "login")
        if valid_after is not None:
            # Tokens have whole-second `iat`s and every token of this second is now
            # revoked; answer once it is over so the next login gets a working token.
            wait = (valid_after - utcnow()).total_seconds()
            await asyncio.sleep(min(max(wait, 0.0), 1.0))
        return {"message": "Password has been reset. Please log in with your new password."}
