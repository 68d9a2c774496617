import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from chatr_server.settings import ConfigError, Settings


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
