"""Token verification: HS256 only, expiry, and the cache of verified tokens."""

from __future__ import annotations

import base64
import time

import jwt
import pytest

from chatr_server.services import tokens as tokens_module
from chatr_server.services.tokens import TokenError, TokenService

SECRET = "unit-test-secret-" * 4  # 68 bytes: long enough for HS512 too


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _token(secret: str = SECRET, **claims: object) -> str:
    body = {"userId": "u-1", "username": "@u", "iat": 1_000, "exp": 2_000, **claims}
    return jwt.encode(body, secret, algorithm="HS256")


def test_a_cached_token_still_expires() -> None:
    # PyJWT checks a new token's expiry on the real clock: issue one valid now.
    now = int(time.time())
    clock = Clock(now)
    service = TokenService(SECRET, clock=clock)
    token = _token(iat=now, exp=now + 100)
    first = service.decode(token)
    assert first.user_id == "u-1" and first.username == "@u"
    assert service.decode(token) is first  # answered from the cache
    clock.now = now + 99.5
    assert service.decode(token) is first
    clock.now = now + 100  # PyJWT's rule: expired once now >= exp
    with pytest.raises(TokenError, match="expired"):
        service.decode(token)
    with pytest.raises(TokenError, match="expired"):  # dropped: PyJWT sees it expired
        service.decode(_token(iat=now - 10, exp=now - 1))
    assert token not in service._verified


def test_a_forged_twin_of_a_cached_token_is_refused() -> None:
    service = TokenService(SECRET)
    now = int(time.time())
    genuine = _token(iat=now, exp=now + 100)
    service.decode(genuine)
    head, payload, _ = genuine.split(".")
    forged_sig = base64.urlsafe_b64encode(b"\0" * 32).rstrip(b"=").decode()
    for forged in (
        f"{head}.{payload}.{forged_sig}",
        _token(secret="another-secret-another-secret-0123456789", iat=now, exp=now + 100),
        f"{head}.{payload}.",
        genuine + "x",
    ):
        with pytest.raises(TokenError):
            service.decode(forged)


def test_only_hs256_tokens_with_the_required_claims_pass() -> None:
    service = TokenService(SECRET)
    now = int(time.time())
    unsigned = jwt.encode({"userId": "u", "iat": now, "exp": now + 60}, None, algorithm="none")
    other_alg = jwt.encode({"userId": "u", "iat": now, "exp": now + 60}, SECRET, "HS512")
    no_exp = jwt.encode({"userId": "u", "iat": now}, SECRET, "HS256")
    no_user = jwt.encode({"iat": now, "exp": now + 60}, SECRET, "HS256")
    for bad in (unsigned, other_alg, no_exp, no_user, "garbage", ""):
        with pytest.raises(TokenError):
            service.decode(bad)
        with pytest.raises(TokenError):  # refusals are never cached as successes
            service.decode(bad)


def test_the_cache_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tokens_module, "VERIFIED_CACHE_SIZE", 8)
    service = TokenService(SECRET)
    now = int(time.time())
    issued = [_token(iat=now, exp=now + 100, userId=f"u-{i}") for i in range(20)]
    claims = [service.decode(t) for t in issued]
    assert [c.user_id for c in claims] == [f"u-{i}" for i in range(20)]
    assert len(service._verified) == 8
    assert list(service._verified) == issued[-8:]  # the oldest went first
    assert service.decode(issued[0]).user_id == "u-0"  # verified again when needed
