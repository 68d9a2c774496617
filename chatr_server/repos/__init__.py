"""Repositories: one async function per SQL statement in ``sql/queries/<area>.sql``.

They take an asyncpg connection (or the pool) first, run exactly one
statement, and know nothing about HTTP, sockets or business rules. Services
own transactions and call these.
"""
