import re
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from chatr_server.settings import ConfigError, Settings
from tests.helpers import REPO_ROOT


def test_defaults_match_the_original():
    s = Settings.from_env({})
    assert s.port == 3001
    assert s.production is False
    assert s.database_url is None and s.redis_url is None
    assert s.aws_region == "eu-west-2"


def test_production_requires_strong_secret():
    with pytest.raises(ConfigError):
        Settings.from_env({"NODE_ENV": "production"})
    with pytest.raises(ConfigError):
        Settings.from_env({"NODE_ENV": "production", "JWT_SECRET": "short"})
    s = Settings.from_env({"NODE_ENV": "production", "JWT_SECRET": "k" * 48})
    assert s.production and s.log_json


def test_bad_values_are_reported_by_name():
    with pytest.raises(ConfigError, match="PORT"):
        Settings.from_env({"PORT": "eighty"})
    with pytest.raises(ConfigError, match="SMTP_TLS"):
        Settings.from_env({"SMTP_TLS": "maybe"})


def test_group_commit_settings_are_read_and_bounded():
    s = Settings.from_env({})
    assert (s.group_commit_window_ms, s.max_pending_writes) == (2.0, 1000)
    s = Settings.from_env({"GROUP_COMMIT_WINDOW_MS": "0.5", "MAX_PENDING_WRITES": "50"})
    assert (s.group_commit_window_ms, s.max_pending_writes) == (0.5, 50)
    with pytest.raises(ConfigError, match="GROUP_COMMIT_WINDOW_MS"):
        Settings.from_env({"GROUP_COMMIT_WINDOW_MS": "-1"}).validate()
    with pytest.raises(ConfigError, match="MAX_PENDING_WRITES"):
        Settings.from_env({"MAX_PENDING_WRITES": "0"}).validate()


def test_attachment_link_lifetime_is_read_and_bounded():
    assert Settings.from_env({}).attachment_link_ttl_s == 3600
    assert Settings.from_env({"ATTACHMENT_LINK_TTL": "600"}).attachment_link_ttl_s == 600
    for bad in ("59", "604801"):
        with pytest.raises(ConfigError, match="ATTACHMENT_LINK_TTL"):
            Settings.from_env({"ATTACHMENT_LINK_TTL": bad})


def test_dev_secret_is_generated_once_and_kept(tmp_path):
    s = Settings.from_env({"CHATR_DATA_DIR": str(tmp_path)})
    first = s.with_dev_secret()
    second = Settings.from_env({"CHATR_DATA_DIR": str(tmp_path)}).with_dev_secret()
    assert len(first.jwt_secret) >= 32
    assert first.jwt_secret == second.jwt_secret
    assert (tmp_path / "jwt_secret").stat().st_mode & 0o077 == 0


def test_dev_secret_created_by_many_at_once_is_one_secret(tmp_path):
    """Workers starting together on a fresh data folder must agree on one secret."""
    env = {"CHATR_DATA_DIR": str(tmp_path / "fresh")}
    start = threading.Barrier(8)

    def load() -> str:
        start.wait()
        return Settings.from_env(env).with_dev_secret().jwt_secret

    with ThreadPoolExecutor(8) as pool:
        found = set(pool.map(lambda _: load(), range(8)))
    assert len(found) == 1 and len(found.pop()) >= 32
    assert [p.name for p in (tmp_path / "fresh").iterdir()] == ["jwt_secret"]


def test_allowed_origins_include_www_and_localhost():
    s = Settings.from_env({"FRONTEND_URL": "https://chatr.example"})
    assert "https://www.chatr.example" in s.allowed_origins
    assert "http://localhost:3000" in s.allowed_origins


def test_workers_need_redis_and_a_shared_node_address_is_refused():
    redis = {"REDIS_URL": "redis://127.0.0.1:6379/0"}
    assert Settings.from_env({**redis, "WEB_WORKERS": "3"}).workers == 3
    with pytest.raises(ConfigError, match="REDIS_URL"):
        Settings.from_env({"WEB_WORKERS": "2"})
    with pytest.raises(ConfigError, match="NODE_URL"):
        Settings.from_env({**redis, "WEB_WORKERS": "2", "NODE_URL": "http://10.0.0.5:4000"})
    with pytest.raises(ConfigError, match="WEB_WORKERS"):
        Settings.from_env({"WEB_WORKERS": "0"})
    node = Settings.from_env({**redis, "NODE_HOST": "10.0.0.5", "NODE_PORT": "4000"})
    assert (node.node_host, node.node_port, node.node_url) == ("10.0.0.5", 4000, None)


# ---- conf/settings.md lists exactly the declared settings --------------------------------

# Their value is a mode name ("production"), not the setting's value: documented as unset.
MODE_VARIABLES = {"NODE_ENV", "CHATR_ENV"}


def _documented() -> dict[str, tuple[str | None, str]]:
    """Variable → (its default as the table spells it, or None when unset; the default cell)."""
    text = (REPO_ROOT / "conf" / "settings.md").read_text()
    rows = text.split("| Variable | Default | Meaning |", 1)[1].split("\n\n", 1)[0]
    found: dict[str, tuple[str | None, str]] = {}
    for row in rows.strip().splitlines()[1:]:  # after the |---| line
        _, var_cell, default_cell, *_ = row.split("|")
        names = re.findall(r"`([A-Z][A-Z0-9_]*)`", var_cell)
        values = re.findall(r"`([^`]*)`", default_cell)
        assert names, row
        for i, name in enumerate(names):
            assert name not in found, f"{name} is documented twice"
            if len(values) == len(names):
                value: str | None = values[i]
            else:  # one value for all the row's variables, or none at all (unset)
                value = values[0] if values else None
            found[name] = (value, default_cell)
    return found


def _spelled(value: Any) -> str | None:
    """A declared default as conf/settings.md writes it (None: shown as unset)."""
    if value is None or value == "" or value == ():
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def test_settings_md_lists_exactly_the_declared_settings():
    declared = [name for item in Settings.declared() for name in item.env]
    assert len(declared) == len(set(declared))
    assert set(_documented()) == set(declared)


def test_settings_md_defaults_are_the_declared_defaults():
    documented = _documented()
    for item in Settings.declared():
        for name in item.env:
            value, cell = documented[name]
            expected = None if name in MODE_VARIABLES else _spelled(item.default)
            assert value == expected, f"{name}: documented {cell.strip()!r}"
            if item.production_default is not None and name not in MODE_VARIABLES:
                prod = _spelled(item.production_default)
                if prod is not None:
                    assert f"production: `{prod}`" in cell, name


def test_declared_defaults_are_the_defaults_read_from_an_empty_environment():
    """One declaration: an unset variable gives the field's default (FRONTEND_URL included)."""
    assert Settings.from_env({}) == Settings()
    blank = {name: " " for item in Settings.declared() for name in item.env}
    assert Settings.from_env(blank) == Settings()
    assert Settings.from_env({"FRONTEND_URL": ""}).frontend_url == "http://localhost:3000"


def test_every_declaration_has_a_description_and_rules_name_their_variable():
    for item in Settings.declared():
        assert item.help.strip(), item.name
    with pytest.raises(ConfigError, match=r"^BCRYPT_ROUNDS must be between 4 and 15$"):
        Settings(bcrypt_rounds=3).validate()
    with pytest.raises(ConfigError, match=r"^LOG_LEVEL must be one of DEBUG, INFO"):
        Settings.from_env({"LOG_LEVEL": "loud"})
    assert Settings.from_env({"LOG_LEVEL": "debug"}).log_level == "DEBUG"
    with pytest.raises(ConfigError, match="SHUTDOWN_TIMEOUT_SECONDS must be between 0 and 3600"):
        Settings.from_env({"SHUTDOWN_TIMEOUT_SECONDS": "0"})


def test_production_defaults_and_test_mode():
    prod = {"CHATR_ENV": "production", "JWT_SECRET": "k" * 48}
    assert Settings.from_env(prod).log_json is True
    assert Settings.from_env({**prod, "LOG_JSON": "false"}).log_json is False
    assert Settings.from_env({"CHATR_TEST_MODE": "1"}).test_mode_allowed is True
    assert Settings.from_env({**prod, "CHATR_TEST_MODE": "1"}).test_mode_allowed is False
