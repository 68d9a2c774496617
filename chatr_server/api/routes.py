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
    health,
    linkpreview,
    testmode,
    users,
    widget,
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

    r.add_post("/api/test/mode", testmode.set_mode)
    r.add_post("/api/test/cleanup", testmode.cleanup)
    r.add_post("/api/test/cleanup-all", testmode.cleanup_all)
    r.add_post("/api/test/restore-images", testmode.restore_images)
    r.add_delete("/api/test/user/{userId}", testmode.delete_user)

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

    api_doc(app, config_url="/api/openapi.json", url_prefix="/api/docs", title="Chatr API")
