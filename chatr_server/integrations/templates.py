"""Transactional email templates (Jinja2, HTML autoescaped) rendered into :class:`Email`.

Each template ``<name>`` has ``templates/email/<name>.html`` and ``<name>.txt``;
its subject, required variables and preview data live in :data:`TEMPLATES`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any
from urllib.parse import quote

import jinja2

from chatr_server.integrations.mail import Email

TEMPLATE_DIR = Path(__file__).resolve().parent.parent / "templates"
MAX_SUBJECT_LENGTH = 200
_SIMPLE_ADDRESS = re.compile(r"[^\s@,;:<>()\[\]\\\"]+@[^\s@,;:<>()\[\]\\\"]+\.[A-Za-z0-9-]+\Z")


@dataclass(frozen=True, slots=True)
class TemplateSpec:
    """What a template needs: ``subject`` is itself a (non-escaped) Jinja2 string."""

    subject: str
    required: tuple[str, ...]
    optional: Mapping[str, Any] = field(default_factory=dict)
    sample: Mapping[str, Any] = field(default_factory=dict)
    preheader: str = ""


_CODE_OPTIONAL: Mapping[str, Any] = MappingProxyType({"name": None, "expires_minutes": None})

TEMPLATES: Mapping[str, TemplateSpec] = MappingProxyType(
    {
        "verification": TemplateSpec(
            subject="Your {{ product_name }} verification code",
            required=("code",),
            optional=MappingProxyType({**_CODE_OPTIONAL, "verify_url": None}),
            sample={"code": "482913", "name": "Ada Lovelace", "expires_minutes": 15},
            preheader="Your verification code is {{ code }}",
        ),
        "login-code": TemplateSpec(
            subject="Your {{ product_name }} login code",
            required=("code",),
            optional=_CODE_OPTIONAL,
            sample={"code": "731046", "name": "Ada Lovelace", "expires_minutes": 10},
            preheader="Your login code is {{ code }}",
        ),
        "password-reset": TemplateSpec(
            subject="Reset your {{ product_name }} password",
            required=("code", "email"),
            optional=_CODE_OPTIONAL,
            sample={
                "code": "550271",
                "email": "ada+test@example.com",
                "name": "Ada Lovelace",
                "expires_minutes": 60,
            },
            preheader="Reset your password with code {{ code }}",
        ),
        "contact": TemplateSpec(
            subject="Contact form: message from {{ name }}",
            required=("name", "email", "message"),
            optional={"company": None},
            sample={
                "name": "Grace Hopper",
                "email": "grace@example.com",
                "company": "Navy <R&D>",
                "message": "Hello!\nWe'd like to talk about a team plan.\n\nThanks,\nGrace",
            },
        ),
        "welcome": TemplateSpec(
            subject="Welcome to {{ product_name }}",
            required=(),
            optional={"name": None},
            sample={"name": "Ada Lovelace"},
            preheader="Your {{ product_name }} account is ready",
        ),
    }
)


class EmailTemplates:
    """Renders the named templates for one product/front-end configuration."""

    def __init__(
        self, product_name: str, frontend_url: str, *, template_dir: Path | None = None
    ) -> None:
        self.product_name = product_name
        self.frontend_url = frontend_url.rstrip("/")
        loader = jinja2.FileSystemLoader(str(template_dir or TEMPLATE_DIR))
        # StrictUndefined turns a typo in a template into an error instead of a blank.
        self._env = jinja2.Environment(
            loader=loader,
            autoescape=jinja2.select_autoescape(enabled_extensions=("html",), default=False),
            undefined=jinja2.StrictUndefined,
            keep_trailing_newline=True,
        )
        self._plain = jinja2.Environment(autoescape=False, undefined=jinja2.StrictUndefined)

    @staticmethod
    def names() -> list[str]:
        """The template names callers may render."""
        return list(TEMPLATES)

    @staticmethod
    def sample_context(name: str) -> dict[str, Any]:
        """Realistic preview data for ``name`` (for a template preview page or tests)."""
        return dict(_spec(name).sample)

    def reset_url(self, code: str, email: str) -> str:
        """The front-end page that completes a password reset."""
        return (
            f"{self.frontend_url}/reset-password?code={quote(str(code), safe='')}"
            f"&email={quote(email, safe='')}"
        )

    def render(self, name: str, to: str, /, **ctx: Any) -> Email:
        """Render template ``name`` for recipient ``to``; missing required values raise."""
        spec = _spec(name)
        missing = [key for key in spec.required if ctx.get(key) in (None, "")]
        if missing:
            raise ValueError(f"template {name!r} needs {', '.join(missing)}")
        context: dict[str, Any] = {
            **spec.optional,
            **ctx,
            "product_name": self.product_name,
            "frontend_url": self.frontend_url,
            "app_url": self.frontend_url,
        }
        if name == "password-reset":
            context["reset_url"] = self.reset_url(context["code"], context["email"])
        subject = _one_line(self._plain.from_string(spec.subject).render(context))
        context["subject"] = subject
        context["preheader"] = (
            self._plain.from_string(spec.preheader).render(context) if spec.preheader else ""
        )
        html = self._env.get_template(f"email/{name}.html").render(context)
        text = self._env.get_template(f"email/{name}.txt").render(context)
        reply_to = None
        if name == "contact" and _SIMPLE_ADDRESS.match(str(context["email"])):
            # Lets the team answer the sender directly from their mail client.
            reply_to = str(context["email"])
        return Email(to=to, subject=subject, text=text, html=html, reply_to=reply_to)


def _spec(name: str) -> TemplateSpec:
    try:
        return TEMPLATES[name]
    except KeyError:
        raise KeyError(f"unknown email template {name!r}") from None


def _one_line(value: str) -> str:
    """Subjects may embed user input: no line breaks (header injection), bounded length."""
    value = re.sub(r"\s+", " ", value).strip()
    if len(value) > MAX_SUBJECT_LENGTH:
        value = value[: MAX_SUBJECT_LENGTH - 1].rstrip() + "…"
    return value
