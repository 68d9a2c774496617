"""Ephemeral state: Redis when configured, in-process otherwise."""

from chatr_server.store.base import KeyValueStore, StorePipeline
from chatr_server.store.memory import MemoryStore
from chatr_server.store.redis import RedisStore

__all__ = ["KeyValueStore", "MemoryStore", "RedisStore", "StorePipeline"]
