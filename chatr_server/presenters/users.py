"""The contract's user shapes, built from ``users`` rows (snake_case → camelCase)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from chatr_server.util.timefmt import iso_ms

Row = Mapping[str, Any]


def user_me(row: Row) -> dict[str, Any]:
    """UserMe: ``GET /api/users/me``."""
    return {
        "id": str(row["id"]),
        "email": row["email"],
        "phoneNumber": row["phone_number"],
        "username": row["username"],
        "displayName": row["display_name"],
        "firstName": row["first_name"],
        "lastName": row["last_name"],
        "profileImage": row["profile_image"],
        "coverImage": row["cover_image"],
        "emailVerified": row["email_verified"],
        "phoneVerified": row["phone_verified"],
        "createdAt": iso_ms(row["created_at"]),
        "privacyOnlineStatus": row["privacy_online_status"],
        "privacyPhone": row["privacy_phone"],
        "privacyEmail": row["privacy_email"],
        "privacyFullName": row["privacy_full_name"],
        "privacyGender": row["privacy_gender"],
        "privacyJoinedDate": row["privacy_joined_date"],
        "gender": row["gender"],
        "isSupport": row["is_support"],
    }


def login_user(row: Row) -> dict[str, Any]:
    """The ``user`` object of a LoginSuccess body."""
    return {
        "id": str(row["id"]),
        "email": row["email"],
        "username": row["username"],
        "displayName": row["display_name"],
        "firstName": row["first_name"],
        "lastName": row["last_name"],
        "createdAt": iso_ms(row["created_at"]),
        "emailVerified": row["email_verified"],
        "isSupport": row["is_support"],
    }


def verified_user(row: Row) -> dict[str, Any]:
    """The ``user`` object returned when registration completes (verify-email/phone)."""
    return {
        "id": str(row["id"]),
        "email": row["email"],
        "phoneNumber": row["phone_number"],
        "username": row["username"],
        "emailVerified": row["email_verified"],
        "phoneVerified": row["phone_verified"],
        "isSupport": row["is_support"],
    }


def updated_profile(row: Row) -> dict[str, Any]:
    """The body of ``PUT /api/users/me``."""
    return {
        "id": str(row["id"]),
        "username": row["username"],
        "displayName": row["display_name"],
        "firstName": row["first_name"],
        "lastName": row["last_name"],
        "profileImage": row["profile_image"],
        "coverImage": row["cover_image"],
        "gender": row["gender"],
        "email": row["email"],
        "phoneNumber": row["phone_number"],
    }
