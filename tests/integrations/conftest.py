"""Settings for the integration tests (the peers they talk to are in ``tests.peers``)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from chatr_server.settings import Settings
from tests.peers import MotoS3


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "var", uploads_dir=tmp_path / "uploads")


@pytest.fixture
def s3_settings(settings: Settings, moto_s3: MotoS3) -> Settings:
    return replace(
        settings,
        s3_bucket="chatr-test",
        aws_region=moto_s3.region,
        s3_endpoint_url=moto_s3.endpoint_url,
        aws_access_key_id=moto_s3.access_key_id,
        aws_secret_access_key=moto_s3.secret_access_key,
    )
