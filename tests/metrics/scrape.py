"""Reading a ``/metrics`` scrape in tests, and the label-value allow-list."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from chatr_server.metrics import HTTP_METHODS, OTHER, POOL_STATES, REFUSAL_REASONS, UNMATCHED


@dataclass(frozen=True)
class Sample:
    name: str
    labels: dict[str, str]
    value: float


def parse(text: str) -> list[Sample]:
    return [
        Sample(s.name, dict(s.labels), s.value)
        for family in text_string_to_metric_families(text)
        for s in family.samples
    ]


def total(samples: list[Sample], name: str, **labels: str) -> float:
    """Sum of the samples called ``name`` whose labels include ``labels``."""
    return sum(
        s.value
        for s in samples
        if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())
    )


_NUMBER = re.compile(r"^(\+Inf|-?\d+(\.\d+)?(e[+-]?\d+)?)$")
# Anything that looks like an id: a UUID, a long run of digits or of hex digits.
_ID_LIKE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}|\d{5,}|[0-9a-f]{12,}", re.I)


def allowed_values(app: Any) -> dict[str, Any]:
    """Label name → the set of values it may take (or a pattern) for this app."""
    from chatr_server.appkeys import SERVICES

    routes = {r.resource.canonical for r in app.router.routes() if r.resource is not None}
    return {
        "event": set(app[SERVICES].sockets.of("/").handlers) | {OTHER},
        "route": routes | {UNMATCHED},
        "method": set(HTTP_METHODS) | {OTHER},
        "status": re.compile(r"^[1-5]\d\d$"),
        "transport": {"polling", "websocket"},
        "kind": {"direct", "group"},
        "reason": set(REFUSAL_REASONS),
        "state": set(POOL_STATES),
        "dependency": {"postgres", "redis"},
        "le": _NUMBER,
        "generation": {"0", "1", "2"},
    }


def bad_labels(samples: list[Sample], app: Any) -> list[str]:
    """Every label value outside the allow-list, or looking like an id."""
    allowed = allowed_values(app)
    bad = []
    for s in samples:
        for name, value in s.labels.items():
            rule = allowed.get(name)
            ok = rule is not None and (
                rule.match(value) is not None if isinstance(rule, re.Pattern) else value in rule
            )
            # Route templates hold {name} placeholders, never the values.
            if name != "le" and _ID_LIKE.search(re.sub(r"{\w+}", "", value)):
                ok = False
            if not ok:
                bad.append(f"{s.name}{{{name}={value!r}}}")
    return bad
