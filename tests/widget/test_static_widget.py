"""Static ``/widget/*`` bundle (rest.md §15): headers and no way out of the folder."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from chatr_server.api.handlers.widget import WIDGET_DIR


@pytest.fixture
def bundle() -> Iterator[tuple[str, str]]:
    """A throw-away script and icon in the real widget folder."""
    name = f"test-{secrets.token_hex(4)}"
    script = WIDGET_DIR / f"{name}.js"
    icons = WIDGET_DIR / "icons"
    created_icons = not icons.exists()
    icons.mkdir(exist_ok=True)
    icon = icons / f"{name}.svg"
    script.write_text("window.chatr = 1;\n")
    icon.write_text('<svg xmlns="http://www.w3.org/2000/svg"/>')
    try:
        yield f"{name}.js", f"icons/{name}.svg"
    finally:
        script.unlink(missing_ok=True)
        icon.unlink(missing_ok=True)
        if created_icons and not any(icons.iterdir()):
            icons.rmdir()


async def test_widget_files_are_served_uncached_outside_production(client, bundle):
    script, icon = bundle
    resp = await client.get(f"/widget/{script}")
    assert resp.status == 200
    assert await resp.text() == "window.chatr = 1;\n"
    assert "javascript" in resp.headers["Content-Type"]
    assert resp.headers["Access-Control-Allow-Origin"] == "*"
    assert resp.headers["Cache-Control"] == "no-store, no-cache, must-revalidate"
    assert resp.headers["Pragma"] == "no-cache"
    resp = await client.get(f"/widget/{icon}")
    assert resp.status == 200
    assert resp.headers["Content-Type"].startswith("image/svg+xml")


async def test_widget_files_are_cached_briefly_in_production(make_client, bundle):
    client = await make_client(production=True)
    resp = await client.get(f"/widget/{bundle[0]}")
    assert resp.status == 200
    assert resp.headers["Cache-Control"] == "public, max-age=300"
    assert "Pragma" not in resp.headers


@pytest.mark.parametrize(
    "path",
    [
        "/widget/missing.js",
        "/widget/README.txt",
        "/widget/../app.py",
        "/widget/%2e%2e/app.py",
        "/widget/..%2F..%2Fapp.py",
        "/widget/icons/../../app.py",
        "/widget//etc/passwd",
        "/widget/.hidden",
        "/widget/icons",
    ],
)
async def test_widget_folder_cannot_be_escaped(client, path):
    resp = await client.get(path)
    assert resp.status == 404
    assert "import" not in await resp.text()


async def test_symlinks_out_of_the_folder_are_refused(client, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("top secret")
    link = WIDGET_DIR / f"link-{secrets.token_hex(4)}.txt"
    link.symlink_to(secret)
    try:
        resp = await client.get(f"/widget/{link.name}")
        assert resp.status == 404
    finally:
        link.unlink()


def test_the_folder_ships_with_instructions():
    readme = Path(WIDGET_DIR) / "README.txt"
    assert "chatr.js" in readme.read_text()
