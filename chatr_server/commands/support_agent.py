"""``python -m chatr_server support-agent EMAIL``: choose the support agent.

The widget talks to "the" agent: the first verified account flagged
``isSupport`` (behaviors.md §14). This command makes one existing, verified
account that agent and clears the flag everywhere else, in one transaction,
so there is never any doubt which account answers the widget.
"""

from __future__ import annotations

import asyncio
import sys
from typing import TextIO

import asyncpg

from chatr_server.db.queries import Queries
from chatr_server.repos.admin import AdminRepo
from chatr_server.settings import Settings


class SupportAgentError(Exception):
    """The account cannot be made the agent; the message says why."""


async def make_support_agent(dsn: str, email: str) -> tuple[str, list[str]]:
    """Flag the account with ``email``; returns its username and those that lost the flag."""
    email = email.strip()
    if not email:
        raise SupportAgentError("an email address is required")
    repo = AdminRepo(Queries())
    conn = await asyncpg.connect(dsn)
    try:
        async with conn.transaction():
            row = await repo.account_by_email(conn, email)
            if row is None or row["is_guest"]:
                raise SupportAgentError(f"no account with email {email!r}")
            if not row["email_verified"]:
                raise SupportAgentError(
                    f"the account {row['username']} has not verified its email; "
                    "verify it first (the widget only uses a verified agent)"
                )
            cleared = await repo.make_sole_support(conn, row["id"])
            return row["username"], cleared
    finally:
        await conn.close()


async def _with_database(settings: Settings, email: str) -> tuple[str, list[str]]:
    from chatr_server.app import resolve_database_url

    dsn, embedded = await resolve_database_url(settings)
    try:
        return await make_support_agent(dsn, email)
    finally:
        if embedded is not None:
            await embedded.stop()


def run(settings: Settings, email: str, out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    """The command's body (``DATABASE_URL``, else the embedded server); the exit status."""
    try:
        username, cleared = asyncio.run(_with_database(settings, email))
    except SupportAgentError as exc:
        print(f"support-agent: {exc}", file=err)
        return 1
    except (OSError, asyncpg.PostgresError) as exc:
        print(f"support-agent: database error: {type(exc).__name__}: {exc}", file=err)
        return 2
    print(f"{username} ({email.strip()}) is now the support agent.", file=out)
    if cleared:
        print(f"Cleared isSupport on: {', '.join(cleared)}", file=out)
    else:
        print("No other account had isSupport set.", file=out)
    return 0
