"""The whole URL map in one place.

Literal segments are registered before parameterised siblings
(``/api/users/me`` before ``/api/users/{username}``), as the client relies on.
"""

from __future__ import annotations

from aiohttp import web
from swagger_ui import api_doc

from chatr_server.api.handlers import (
    admin,
    auth,
    contact,
    conversations,
    directory,
    email_preview,
    friends,
    groups,
    health,
    landing,
    linkpreview,
    message_actions,
    messages,
    metrics,
    settings,
    static,
    testmode,
    uploads,
    users,
    widget,
)


def setup_routes(app: web.Application) -> None:
    r = app.router
    r.add_get("/api/health", health.health)
    r.add_get("/api/health/ready", health.ready)
    r.add_get("/api/openapi.json", health.openapi_json)
    r.add_get("/metrics", metrics.metrics)

    r.add_post("/api/auth/register", auth.register)
    r.add_post("/api/auth/login", auth.login)
    r.add_post("/api/auth/logout", auth.logout)
    r.add_post("/api/auth/verify-email", auth.verify_email)
    r.add_post("/api/auth/verify-phone", auth.verify_phone)
    r.add_post("/api/auth/resend-verification", auth.resend_verification)
    r.add_post("/api/auth/2fa/setup", auth.two_factor_setup)
    r.add_post("/api/auth/2fa/verify", auth.two_factor_verify)
    r.add_post("/api/auth/forgot-password", auth.forgot_password)
    r.add_post("/api/auth/reset-password", auth.reset_password)

    r.add_get("/api/email-preview", email_preview.email_preview)

    r.add_get("/api/users/me", users.get_me)
    r.add_put("/api/users/me", users.update_me)
    r.add_put("/api/users/me/settings", settings.update_settings)
    r.add_get("/api/users/check-username", users.check_username)
    r.add_get("/api/users/suggest-username", users.suggest_username)
    r.add_get("/api/users", directory.list_users)
    r.add_get("/api/users/search", directory.search_users)
    r.add_get("/api/users/conversations", directory.conversations)
    r.add_post("/api/users/profile-image", uploads.upload_profile_image)
    r.add_delete("/api/users/profile-image", uploads.delete_profile_image)
    r.add_post("/api/users/cover-image", uploads.upload_cover_image)
    r.add_delete("/api/users/cover-image", uploads.delete_cover_image)
    r.add_get("/api/users/by-id/{userId}", directory.user_by_id)
    # Keep last among /api/users/*: a literal path must never be read as a username.
    r.add_get("/api/users/{username}", directory.user_by_username)

    r.add_post("/api/messages/upload", uploads.upload_message_file)
    r.add_get("/api/messages/download/{messageId}", uploads.download)
    r.add_get("/api/messages/download/{messageId}/link", uploads.download_link)
    r.add_patch("/api/messages/{id}/waveform", messages.set_waveform)
    r.add_get("/api/messages/{id}/edits", message_actions.edit_history)
    r.add_get("/api/messages/{recipientId}", messages.history)

    # Literal friends paths before the /{friendshipId} and /{targetUserId} ones.
    r.add_get("/api/friends", friends.list_friends)
    r.add_get("/api/friends/requests/incoming", friends.incoming_requests)
    r.add_get("/api/friends/requests/outgoing", friends.outgoing_requests)
    r.add_get("/api/friends/search", friends.search)
    r.add_post("/api/friends/request", friends.send_request)
    r.add_get("/api/friends/blocked", friends.blocked)
    r.add_post("/api/friends/{friendshipId}/accept", friends.accept)
    r.add_post("/api/friends/{friendshipId}/decline", friends.decline)
    r.add_delete("/api/friends/{friendshipId}", friends.remove)
    r.add_post("/api/friends/{targetUserId}/block", friends.block)
    r.add_post("/api/friends/{targetUserId}/unblock", friends.unblock)
    r.add_get("/api/friends/{targetUserId}/block-status", friends.block_status)

    r.add_post("/api/conversations/nuke-by-user/{recipientId}", conversations.nuke_by_user)
    r.add_post("/api/conversations/{id}/accept", conversations.accept)
    r.add_post("/api/conversations/{id}/decline", conversations.decline)
    r.add_post("/api/conversations/{id}/nuke", conversations.nuke)

    # /api/groups/invites must be registered before /api/groups/{id}.
    g = "/api/groups"
    r.add_post(g, groups.create_group)
    r.add_get(g, groups.list_groups)
    r.add_get(f"{g}/invites", groups.list_invites)
    r.add_get(f"{g}/{{id}}", groups.get_group)
    r.add_patch(f"{g}/{{id}}", groups.update_group)
    r.add_delete(f"{g}/{{id}}", groups.delete_group)
    r.add_post(f"{g}/{{id}}/accept", groups.accept_invite)
    r.add_post(f"{g}/{{id}}/decline", groups.decline_invite)
    r.add_get(f"{g}/{{id}}/messages", groups.group_messages)
    r.add_post(f"{g}/{{id}}/members", groups.add_member)
    r.add_delete(f"{g}/{{id}}/members/{{memberId}}", groups.remove_member)
    r.add_patch(f"{g}/{{id}}/members/{{memberId}}/promote", groups.promote_member)
    r.add_patch(f"{g}/{{id}}/members/{{memberId}}/demote", groups.demote_member)
    r.add_post(f"{g}/{{id}}/join", groups.join_group)
    r.add_post(f"{g}/{{id}}/leave", groups.leave_group)
    r.add_post(f"{g}/{{id}}/transfer-ownership", groups.transfer_ownership)
    r.add_post(f"{g}/{{id}}/step-down", groups.step_down)
    r.add_post(f"{g}/{{id}}/upload", groups.upload_file)
    r.add_post(f"{g}/{{id}}/profile-image", groups.set_profile_image)
    r.add_delete(f"{g}/{{id}}/profile-image", groups.delete_profile_image)
    r.add_post(f"{g}/{{id}}/cover-image", groups.set_cover_image)
    r.add_delete(f"{g}/{{id}}/cover-image", groups.delete_cover_image)
    r.add_patch(f"{g}/{{id}}/messages/{{msgId}}/waveform", groups.update_waveform)

    r.add_post("/api/test/mode", testmode.set_mode)
    r.add_post("/api/test/cleanup", testmode.cleanup)
    r.add_post("/api/test/cleanup-all", testmode.cleanup_all)
    r.add_post("/api/test/restore-images", testmode.restore_images)
    r.add_delete("/api/test/user/{userId}", testmode.delete_user)

    r.add_get("/uploads/{path:.+}", static.uploads)
    r.add_get("/assets/{path:.+}", static.assets)

    r.add_get("/api/widget/support-agent", widget.support_agent)
    r.add_post("/api/widget/guest-session", widget.guest_session)
    r.add_get("/api/widget/history", widget.history)
    r.add_post("/api/widget/upload", widget.upload)
    r.add_post("/api/widget/offline-message", widget.offline_message)
    r.add_post("/api/widget/end-chat", widget.end_chat)
    r.add_get("/widget/{path:.+}", widget.widget_file)

    r.add_get("/api/admin/widget-contacts", admin.widget_contacts)
    r.add_get("/api/admin/widget-contacts/{guestId}/messages", admin.guest_messages)
    r.add_delete("/api/admin/widget-contacts/{guestId}", admin.delete_guest)
    r.add_post("/api/admin/widget-contacts/{guestId}/reply", admin.reply)

    r.add_get("/api/link-preview", linkpreview.link_preview)
    r.add_post("/api/contact", contact.submit)

    r.add_get("/", landing.index)
    api_doc(app, config_url="/api/openapi.json", url_prefix="/api/docs", title="Chatr API")
