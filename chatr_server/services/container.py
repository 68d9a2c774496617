"""Everything a request or socket handler may need, built once by the app factory."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import asyncpg

from chatr_server.db.queries import Queries
from chatr_server.integrations.mail import Mailer
from chatr_server.integrations.sms import SmsSender
from chatr_server.integrations.storage import Storage
from chatr_server.services.attachments import Attachments
from chatr_server.services.auth import AuthService
from chatr_server.services.bus import EventBus, NullBus
from chatr_server.services.conversations import ConversationService
from chatr_server.services.directory import DirectoryService
from chatr_server.services.group_roles import GroupRoleService
from chatr_server.services.group_uploads import GroupUploads
from chatr_server.services.groups import GroupService
from chatr_server.services.history import HistoryService
from chatr_server.services.notify import Notifier
from chatr_server.services.ratelimit import RateLimiter
from chatr_server.services.social import SocialService
from chatr_server.services.testmode import TestMode
from chatr_server.services.tokens import TokenService
from chatr_server.services.twofactor import TwoFactorService
from chatr_server.services.uploads import UploadService
from chatr_server.services.users import UserService
from chatr_server.settings import Settings
from chatr_server.store import KeyValueStore


@dataclass(slots=True)
class Services:
    settings: Settings
    pool: asyncpg.Pool
    queries: Queries
    store: KeyValueStore
    test_mode: TestMode
    tokens: TokenService
    rate_limiter: RateLimiter
    mailer: Mailer
    sms: SmsSender
    storage: Storage
    auth: AuthService
    users: UserService
    social: SocialService
    conversations: ConversationService
    notifier: Notifier
    two_factor: TwoFactorService
    groups: GroupService
    group_roles: GroupRoleService
    group_uploads: GroupUploads
    directory: DirectoryService
    history: HistoryService
    uploads: UploadService
    attachments: Attachments
    bus: EventBus = field(default_factory=NullBus)
    extra: dict[str, Any] = field(default_factory=dict)
