"""``python -m chatr_server support-agent EMAIL`` in a real subprocess."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from tests.helpers import make_user
from tests.widget.helpers import make_agent, pool

ROOT = Path(__file__).resolve().parents[2]


async def _run(base_settings, tmp_path, *args: str) -> tuple[int, str, str]:
    env = {
        **os.environ,
        "DATABASE_URL": base_settings.database_url,
        "CHATR_DATA_DIR": str(tmp_path / "var"),
        "LOG_LEVEL": "WARNING",
    }
    env.pop("NODE_ENV", None)
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "chatr_server",
        "support-agent",
        *args,
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_command_makes_the_only_agent(client, base_settings, tmp_path):
    previous = await make_agent(client)
    user = await make_user(client)
    await pool(client).execute("UPDATE users SET email_verified = true WHERE id = $1", user.id)
    code, out, err = await _run(base_settings, tmp_path, user.email.upper())
    assert code == 0, err
    assert user.username in out and "support agent" in out
    assert previous.username in out  # says whose flag it cleared
    flagged = await pool(client).fetch("SELECT id FROM users WHERE is_support")
    assert [str(r["id"]) for r in flagged] == [user.id]
    resp = await client.get("/api/widget/support-agent")
    assert (await resp.json())["id"] == user.id
    # Running it again is harmless.
    code, out, _ = await _run(base_settings, tmp_path, user.email)
    assert code == 0 and "No other account" in out


async def test_command_unknown_email_fails_clearly(client, base_settings, tmp_path):
    agent = await make_agent(client)
    code, out, err = await _run(base_settings, tmp_path, "nobody-here@example.com")
    assert code == 1
    assert "no account with email" in err
    assert out == ""
    # Nothing changed.
    assert await pool(client).fetchval("SELECT is_support FROM users WHERE id = $1", agent.id)


async def test_command_refuses_unverified_accounts(client, base_settings, tmp_path):
    agent = await make_agent(client)
    user = await make_user(client)
    await pool(client).execute("UPDATE users SET email_verified = false WHERE id = $1", user.id)
    code, _, err = await _run(base_settings, tmp_path, user.email)
    assert code == 1
    assert "not verified" in err
    assert not await pool(client).fetchval("SELECT is_support FROM users WHERE id = $1", user.id)
    assert await pool(client).fetchval("SELECT is_support FROM users WHERE id = $1", agent.id)


async def test_command_needs_an_email_argument(base_settings, tmp_path):
    code, _, err = await _run(base_settings, tmp_path)
    assert code == 2
    assert "EMAIL" in err
