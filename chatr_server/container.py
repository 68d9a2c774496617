"""The one typed container: every service and long-lived object of a running app.

Built in one place (``app._build``) once the resources are open, in dependency
order: resources, then the realtime transport and the one event bus, then the
services, each given what it uses in its constructor. Handlers read it as
``request.app[SERVICES]`` or ``ChatContext.services`` and reach everything by
attribute; a feature that is off is ``None``. Services themselves never see
the container (import-linter forbids it): they get their collaborators.
"""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

from chatr_server.db.queries import Queries
from chatr_server.integrations.mail import Mailer
from chatr_server.integrations.sms import SmsSender
from chatr_server.integrations.storage import Storage
from chatr_server.realtime import SocketServer
from chatr_server.realtime.cluster import NodeRouter
from chatr_server.realtime.redis_adapter import RedisBroker
from chatr_server.services.admin import AdminService
from chatr_server.services.attachments import Attachments
from chatr_server.services.auth import AuthService
from chatr_server.services.bus import EventBus
from chatr_server.services.calls import CallService
from chatr_server.services.contact import ContactService
from chatr_server.services.conversations import ConversationService
from chatr_server.services.dependencies import DependencyMonitor
from chatr_server.services.directory import DirectoryService
from chatr_server.services.group_roles import GroupRoleService
from chatr_server.services.group_uploads import GroupUploads
from chatr_server.services.groups import GroupService
from chatr_server.services.history import HistoryService
from chatr_server.services.linkpreview import LinkPreviewService
from chatr_server.services.message_actions import MessageActionsService
from chatr_server.services.messaging import MessagingService
from chatr_server.services.notify import Notifier
from chatr_server.services.presence import PresenceService
from chatr_server.services.profile_events import ProfileEvents
from chatr_server.services.ratelimit import RateLimiter
from chatr_server.services.social import SocialService
from chatr_server.services.testdata import TestDataService
from chatr_server.services.testmode import TestMode
from chatr_server.services.tokens import TokenService
from chatr_server.services.twofactor import TwoFactorService
from chatr_server.services.uploads import UploadService
from chatr_server.services.users import UserService
from chatr_server.services.widget import WidgetService
from chatr_server.settings import Settings
from chatr_server.store import KeyValueStore


@dataclass(slots=True)
class Services:
    """Not frozen only so a test can put in a service with a fake (the link-preview fetcher).

    Nothing is rebound in production: every service got the bus and its
    collaborators in its constructor, so rebinding ``bus`` here would change nothing.
    """

    # --- configuration and resources ---
    settings: Settings
    dependencies: DependencyMonitor
    pool: asyncpg.Pool
    queries: Queries
    store: KeyValueStore
    mailer: Mailer
    sms: SmsSender
    storage: Storage
    # --- realtime transport: the socket server, and the one bus every service emits on ---
    sockets: SocketServer
    #: Cross-process fan-out; None without ``REDIS_URL``.
    broker: RedisBroker | None
    #: Forwards polling requests to the session's process; None without a node address.
    router: NodeRouter | None
    presence: PresenceService
    bus: EventBus
    # --- services ---
    test_mode: TestMode
    tokens: TokenService
    rate_limiter: RateLimiter
    notifier: Notifier
    attachments: Attachments
    auth: AuthService
    social: SocialService
    conversations: ConversationService
    profile_events: ProfileEvents
    users: UserService
    two_factor: TwoFactorService
    groups: GroupService
    group_roles: GroupRoleService
    group_uploads: GroupUploads
    directory: DirectoryService
    history: HistoryService
    uploads: UploadService
    messaging: MessagingService
    message_actions: MessageActionsService
    calls: CallService
    widget: WidgetService
    admin: AdminService
    contact: ContactService
    linkpreview: LinkPreviewService
    #: ``/api/test/*`` fixtures; None unless test mode is allowed (never in production).
    testdata: TestDataService | None
