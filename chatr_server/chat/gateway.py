"""Register every chat event on the Socket.IO namespace the app factory created."""

from __future__ import annotations

from chatr_server.chat.calls import CallHandlers
from chatr_server.chat.connection import ConnectionHandlers
from chatr_server.chat.context import ChatContext
from chatr_server.chat.groups import GroupHandlers
from chatr_server.chat.guests import GuestGate
from chatr_server.chat.messages import MessageHandlers
from chatr_server.chat.presence import PresenceHandlers
from chatr_server.chat.rpc import RpcHandlers
from chatr_server.metrics import Metrics
from chatr_server.realtime import Namespace


def register_chat(ns: Namespace, ctx: ChatContext, metrics: Metrics) -> None:
    """Connect, disconnect and every event of events.md, behind the guest gate."""
    ConnectionHandlers(ctx).register(ns)
    MessageHandlers(ctx, metrics).register(ns)
    PresenceHandlers(ctx).register(ns)
    GroupHandlers(ctx, metrics).register(ns)
    CallHandlers(ctx).register(ns)
    RpcHandlers(ctx).register(ns)
    # Last: it wraps every handler registered above (SEC-23).
    GuestGate(ctx).install(ns)
