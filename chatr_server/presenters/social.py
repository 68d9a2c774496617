"""Contract shapes of the social graph: UserCard, FriendshipRow, FriendshipRef, ConversationRow.

UserCard fields leave the server only as far as the card owner's privacy
settings allow the viewer to see them (SEC-6): ``email`` follows
``privacyEmail`` and first/last name follow ``privacyFullName``. Hidden
fields are ``null`` (the key set stays exact; the client tolerates nulls).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from chatr_server.util.timefmt import iso_ms

Row = Mapping[str, Any]

PRIVACY_LEVELS = ("everyone", "friends", "nobody")


def privacy_allows(level: str, viewer_is_friend: bool) -> bool:
    """May a viewer see a field guarded by ``level``? (``nobody`` hides it from everyone)."""
    return level == "everyone" or (level == "friends" and viewer_is_friend)


def user_card(
    row: Row, viewer_id: str, viewer_is_friend: bool, prefix: str = "u_"
) -> dict[str, Any]:
    """UserCard of the user in ``row`` (columns named ``<prefix>…``) as seen by ``viewer_id``."""
    user_id = str(row[prefix + "id"])
    own = user_id == viewer_id
    show_email = own or privacy_allows(row[prefix + "privacy_email"], viewer_is_friend)
    show_name = own or privacy_allows(row[prefix + "privacy_full_name"], viewer_is_friend)
    return {
        "id": user_id,
        "username": row[prefix + "username"],
        "displayName": row[prefix + "display_name"],
        "firstName": row[prefix + "first_name"] if show_name else None,
        "lastName": row[prefix + "last_name"] if show_name else None,
        "profileImage": row[prefix + "profile_image"],
        "email": row[prefix + "email"] if show_email else None,
        "privacyOnlineStatus": row[prefix + "privacy_online_status"],
    }


def friendship_row(row: Row) -> dict[str, Any]:
    """FriendshipRow."""
    return {
        "id": str(row["id"]),
        "requesterId": str(row["requester_id"]),
        "addresseeId": str(row["addressee_id"]),
        "status": row["status"],
        "createdAt": iso_ms(row["created_at"]),
        "updatedAt": iso_ms(row["updated_at"]),
    }


def friendship_ref(friendship_id: Any, requester_id: Any, status: str, viewer_id: str) -> dict:
    """FriendshipRef: ``iRequested`` is true when the viewer sent the request (or blocked)."""
    return {
        "id": str(friendship_id),
        "status": status,
        "iRequested": str(requester_id) == viewer_id,
    }


def conversation_row(row: Row) -> dict[str, Any]:
    """ConversationRow."""
    return {
        "id": str(row["id"]),
        "participantA": str(row["participant_a"]),
        "participantB": str(row["participant_b"]),
        "initiatorId": str(row["initiator_id"]),
        "status": row["status"],
        "createdAt": iso_ms(row["created_at"]),
        "updatedAt": iso_ms(row["updated_at"]),
        "summary": row["summary"],
        "summaryMessageCount": row["summary_message_count"],
        "summaryGeneratedAt": iso_ms(row["summary_generated_at"]),
    }
