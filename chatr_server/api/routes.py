"""The whole URL map in one place.

Literal segments are registered before parameterised siblings
(``/api/users/me`` before ``/api/users/{username}``), as the client relies on.
"""

from __future__ import annotations

from aiohttp import web
from swagger_ui import api_doc

from chatr_server.api.handlers import (
    auth,
    directory,
    health,
    messages,
    static,
    testmode,
    uploads,
    users,
)


def setup_routes(app: web.Application) -> None:
    r = app.router
    r.add_get("/api/health", health.health)
    r.add_get("/api/openapi.json", health.openapi_json)

    r.add_post("/api/auth/register", auth.register)
    r.add_post("/api/auth/login", auth.login)
    r.add_post("/api/auth/logout", auth.logout)
    r.add_post("/api/auth/verify-email", auth.verify_email)
    r.add_post("/api/auth/verify-phone", auth.verify_phone)

    r.add_get("/api/users/me", users.get_me)
    r.add_put("/api/users/me", users.update_me)
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
    r.add_get("/api/messages/{recipientId}", messages.history)

    r.add_post("/api/test/mode", testmode.set_mode)
    r.add_post("/api/test/cleanup", testmode.cleanup)
    r.add_post("/api/test/cleanup-all", testmode.cleanup_all)
    r.add_post("/api/test/restore-images", testmode.restore_images)
    r.add_delete("/api/test/user/{userId}", testmode.delete_user)

    r.add_get("/uploads/{path:.+}", static.uploads)
    r.add_get("/assets/{path:.+}", static.assets)

    api_doc(app, config_url="/api/openapi.json", url_prefix="/api/docs", title="Chatr API")
