"""conf/grafana-dashboard.json and conf/prometheus-alerts.yml name only series that exist."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

from tests.helpers import make_user
from tests.metrics.scrape import parse

CONF = Path(__file__).resolve().parents[2] / "conf"
SERIES = re.compile(r"\b((?:chatr|process|python)_[a-z0-9_]+)\b")


def dashboard_exprs() -> list[str]:
    dashboard = json.loads((CONF / "grafana-dashboard.json").read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    exprs += [v["query"] for v in dashboard["templating"]["list"] if v["type"] == "query"]
    return exprs


def alert_exprs() -> list[str]:
    rules = yaml.safe_load((CONF / "prometheus-alerts.yml").read_text())
    return [r["expr"] for group in rules["groups"] for r in group["rules"]]


async def test_every_series_in_the_dashboard_and_alerts_exists(client, connect) -> None:
    alice, bob = await make_user(client), await make_user(client)
    a = await connect(alice)
    await a.emit("message:send", {"recipientId": bob.id, "content": "hi", "tempId": "d1"})
    await a.wait("message:sent")
    assert (await client.get("/api/health")).status == 200
    resp = await client.get("/metrics")
    assert resp.status == 200
    scraped = {s.name for s in parse(await resp.text())}
    for source, exprs in (("dashboard", dashboard_exprs()), ("alerts", alert_exprs())):
        named = {name for expr in exprs for name in SERIES.findall(expr)}
        assert len(named) >= 7, source
        missing = sorted(named - scraped)
        assert not missing, f"{source} names series the server does not export: {missing}"
    await a.close()


def test_alerts_cover_the_operational_failures() -> None:
    rules: dict[str, Any] = {
        r["alert"]: r["expr"]
        for g in yaml.safe_load((CONF / "prometheus-alerts.yml").read_text())["groups"]
        for r in g["rules"]
    }
    wanted = {
        "ChatrDependencyDown": "chatr_dependency_up",
        "ChatrAckLatencyHigh": "chatr_message_ack_seconds_bucket",
        "ChatrSendsRefused": "chatr_sends_refused_total",
        "ChatrRedisAdapterDrops": "chatr_redis_adapter_dropped_total",
        "ChatrRedisCommandsRefused": "chatr_redis_commands_refused_total",
        "ChatrDbPoolExhausted": "chatr_db_pool_connections",
        "ChatrNodeNotReady": "chatr_ready",
    }
    for alert, series in wanted.items():
        assert series in rules[alert], alert
