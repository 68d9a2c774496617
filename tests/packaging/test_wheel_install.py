"""``pip install`` of the built wheel (not editable) runs from any folder.

The wheel is built from a copy of just the files the Dockerfile copies, then
installed into a new virtual environment (dependencies come from pip's cache or
the index). ``migrate`` and ``serve`` then run from an empty folder against a
fresh database: nothing may be read from the checkout.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import venv
from pathlib import Path

import aiohttp

from chatr_server import __version__
from tests.helpers import free_port, wait_until_serving

ROOT = Path(__file__).resolve().parents[2]
# What the wheel is built from (the Dockerfile copies the same).
SOURCES = ("setup.cfg", "pyproject.toml", "README.md", "chatr_server", "sql")
INSTALL_TIMEOUT = 600


def _run(cmd: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=INSTALL_TIMEOUT, **kwargs)
    assert done.returncode == 0, f"{cmd}\n{done.stdout}\n{done.stderr}"
    return done


def _build_and_install(tmp: Path) -> Path:
    """Build the wheel from a clean copy and install it into a new venv; returns its python."""
    src = tmp / "src"
    src.mkdir()
    for name in SOURCES:
        path = ROOT / name
        if path.is_dir():
            ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
            shutil.copytree(path, src / name, symlinks=True, ignore=ignore)
        else:
            shutil.copy2(path, src / name)
    dist = tmp / "dist"
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--wheel-dir", str(dist), str(src)])
    (wheel,) = dist.glob("chatr_server-*.whl")
    env_dir = tmp / "venv"
    venv.create(env_dir, with_pip=False)
    python = env_dir / "bin" / "python"
    # This interpreter's pip installs into the new environment (no ensurepip run needed).
    _run([sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet", str(wheel)])
    return python


def _clean_env(**extra: str) -> dict[str, str]:
    """No PYTHONPATH, no CHATR_SQL_DIR: only the installed package can be found."""
    return {"PATH": "/usr/bin:/bin", "HOME": os.environ.get("HOME", "/tmp"), **extra}


def _install_and_migrate(tmp: Path, dsn: str) -> tuple[Path, Path]:
    """Install, check where the package reads from, migrate; returns (python, workdir)."""
    python = _build_and_install(tmp)
    workdir = tmp / "elsewhere"
    workdir.mkdir()
    env = _clean_env(DATABASE_URL=dsn)
    probe = (
        "from importlib import resources; import chatr_server; "
        "from chatr_server.db.queries import sql_dir; "
        "print(chatr_server.__file__); print(sql_dir()); "
        "print((resources.files('chatr_server') / 'templates/email/base.html').is_file())"
    )
    where = _run([str(python), "-c", probe], cwd=workdir, env=env).stdout.split()
    site = str(python.parent.parent)
    assert where[0].startswith(site) and where[1].startswith(site), where
    assert not Path(where[1]).is_symlink()
    assert where[2] == "True"
    migrated = _run([str(python), "-m", "chatr_server", "migrate"], cwd=workdir, env=env)
    assert migrated.stdout.startswith("applied ") and "0001" in migrated.stdout
    return python, workdir


async def test_wheel_installs_and_runs_from_any_folder(tmp_path, empty_db):
    python, workdir = await asyncio.to_thread(_install_and_migrate, tmp_path, empty_db)
    port = free_port()
    serve = await asyncio.create_subprocess_exec(
        *(str(python), "-m", "chatr_server", "serve", "--host", "127.0.0.1", "--port", str(port)),
        cwd=workdir,
        env=_clean_env(DATABASE_URL=empty_db),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        await wait_until_serving(serve, port)
        async with aiohttp.ClientSession() as http:
            async with http.get(f"http://127.0.0.1:{port}/api/health") as resp:
                health = await resp.json()
            assert health["status"] == "ok"
            assert health["database"] == "connected"
            async with http.get(f"http://127.0.0.1:{port}/") as resp:
                assert resp.status == 200
                assert __version__ in await resp.text()
    finally:
        if serve.returncode is None:
            serve.send_signal(signal.SIGTERM)
        _out, err = await asyncio.wait_for(serve.communicate(), timeout=30)
    assert serve.returncode == 0, err.decode()
    # The development secret landed in the folder it was started from, not in the package.
    assert await asyncio.to_thread((workdir / "var" / "jwt_secret").is_file)
