"""Start-up: failures are one clear line and a non-zero exit; success says where and how.

Every case runs ``python -m chatr_server serve`` as a subprocess.
"""

from __future__ import annotations

import secrets
import socket
from typing import Any

import asyncpg

from tests.helpers import free_port

EXIT_LIMIT_S = 60.0


async def _fails_in_one_line(served: Any, expected: str, code: int = 1) -> str:
    assert await served.exit_code(EXIT_LIMIT_S) == code
    lines = served.log().strip().splitlines()
    assert len(lines) == 1, lines
    assert expected in lines[0], lines[0]
    return lines[0]


async def test_listening_line_gives_url_docs_and_mode(serve: Any) -> None:
    served = await serve()
    line = (await served.wait_log(r".*listening on.*"))[0]
    assert " INFO " in line
    assert f"http://127.0.0.1:{served.port};" in line
    assert f"docs http://127.0.0.1:{served.port}/api/docs" in line
    assert "development, external PostgreSQL, in-process presence (no Redis)" in line
    assert served.log().count("listening on") == 1


async def test_port_in_use(serve: Any) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        served = await serve(wait=False, PORT=str(port))
        await _fails_in_one_line(
            served, f"cannot listen on 127.0.0.1:{port}: address already in use"
        )


async def test_database_unreachable_names_it_without_credentials(serve: Any) -> None:
    port = free_port()
    served = await serve(
        wait=False, DATABASE_URL=f"postgresql://chatr:hunter2-secret@127.0.0.1:{port}/chatr"
    )
    line = await _fails_in_one_line(
        served, f"cannot connect to PostgreSQL at 127.0.0.1:{port}/chatr"
    )
    assert "hunter2" not in line


async def test_production_serve_before_migrate(serve: Any, pg_server_dsn: str) -> None:
    name = f"chatr_unmigrated_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(pg_server_dsn)
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        dsn = pg_server_dsn.rsplit("/", 1)[0] + f"/{name}"
        served = await serve(
            wait=False, CHATR_ENV="production", JWT_SECRET="s" * 48, DATABASE_URL=dsn
        )
        await _fails_in_one_line(served, "run `python -m chatr_server migrate` first")
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def test_bad_settings(serve: Any) -> None:
    served = await serve(wait=False, SHUTDOWN_TIMEOUT_SECONDS="soon")
    await _fails_in_one_line(served, '"SHUTDOWN_TIMEOUT_SECONDS" invalid', code=2)
    served = await serve(wait=False, LOG_LEVEL="LOUD")
    await _fails_in_one_line(served, "LOG_LEVEL must be one of", code=2)


async def test_public_port_queues_a_storm_of_connections(serve: Any) -> None:
    """LISTEN_BACKLOG reaches listen(2): a reconnect storm is queued, not dropped (a dropped
    SYN waits seconds for its retry). The kernel shows a listener's backlog as its Send-Q."""
    import asyncio
    import shutil

    import pytest

    if shutil.which("ss") is None:
        pytest.skip("needs ss (iproute2) to read the listen backlog")
    served = await serve(LISTEN_BACKLOG="777")
    await served.wait_log(r".*listening on.*")
    ss = await asyncio.create_subprocess_exec(
        "ss", "-ltnH", f"sport = :{served.port}", stdout=asyncio.subprocess.PIPE
    )
    out = (await ss.communicate())[0].decode().split()
    assert out[0] == "LISTEN" and out[2] == "777", out
