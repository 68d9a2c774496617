"""Types shared by the repositories."""

from __future__ import annotations

from asyncpg import Connection, Pool
from asyncpg.pool import PoolConnectionProxy

# Anything that can run a statement: the pool (autocommit) or a connection.
Executor = Pool | Connection | PoolConnectionProxy
