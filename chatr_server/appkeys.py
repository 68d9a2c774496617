"""Typed keys for application state: the only way code reaches shared objects."""

from __future__ import annotations

from aiohttp import web

from chatr_server.container import Services
from chatr_server.metrics import Metrics
from chatr_server.services.dependencies import DependencyMonitor
from chatr_server.settings import Settings

SETTINGS = web.AppKey("settings", Settings)
SERVICES = web.AppKey("services", Services)
#: Up/down state of PostgreSQL and Redis (read by readiness; fed by every boundary).
DEPENDENCIES = web.AppKey("dependencies", DependencyMonitor)
#: Prometheus metrics of this app (``GET /metrics``; made once in ``create_app``).
METRICS = web.AppKey("metrics", Metrics)
