from __future__ import annotations

import html as html_lib
from pathlib import Path

import pytest

from chatr_server.integrations.templates import TEMPLATE_DIR, EmailTemplates

CONTRACT_NAMES = {"verification", "login-code", "password-reset", "contact", "welcome"}
XSS = "<script>alert('x')</script>"


@pytest.fixture
def templates() -> EmailTemplates:
    return EmailTemplates("Chatr", "https://app.chatr.test/")


def test_names_cover_contract() -> None:
    assert set(EmailTemplates.names()) == CONTRACT_NAMES
    for name in EmailTemplates.names():
        assert (TEMPLATE_DIR / "email" / f"{name}.html").is_file()
        assert (TEMPLATE_DIR / "email" / f"{name}.txt").is_file()


@pytest.mark.parametrize("name", sorted(CONTRACT_NAMES))
def test_every_template_renders_sample(templates: EmailTemplates, name: str) -> None:
    ctx = EmailTemplates.sample_context(name)
    email = templates.render(name, "to@example.com", **ctx)
    assert email.to == "to@example.com"
    assert email.subject and "\n" not in email.subject
    assert "Chatr" in email.subject or "Chatr" in email.text
    assert email.html is not None and email.html.lstrip().startswith("<!DOCTYPE html>")
    assert "Chatr" in email.html
    for key in ("code", "name", "company"):
        if isinstance(ctx.get(key), str):
            assert ctx[key] in email.text
            assert (
                html_lib.escape(ctx[key], quote=False) in email.html
                or html_lib.escape(ctx[key]) in email.html
            )
    # Sample contexts are copies: mutating one does not leak into the next call.
    ctx["code"] = "mutated"
    assert EmailTemplates.sample_context(name).get("code") != "mutated"


@pytest.mark.parametrize("name", sorted(CONTRACT_NAMES))
def test_values_are_escaped_in_html(templates: EmailTemplates, name: str) -> None:
    ctx = {key: XSS for key in EmailTemplates.sample_context(name)} | {"expires_minutes": 5}
    email = templates.render(name, "to@example.com", **ctx)
    assert email.html is not None
    assert "<script>" not in email.html
    assert "&lt;script&gt;" in email.html
    assert XSS in email.text  # plain text carries the value verbatim


def test_verification_and_login_code(templates: EmailTemplates) -> None:
    email = templates.render("verification", "a@example.com", code="123456")
    assert "123456" in email.text and "123456" in email.html
    assert email.subject == "Your Chatr verification code"
    assert "expires" not in email.text  # no expiry given, none claimed
    login = templates.render("login-code", "a@example.com", code="654321", expires_minutes=10)
    assert login.subject == "Your Chatr login code"
    assert "expires in 10 minutes" in login.text


def test_password_reset_link(templates: EmailTemplates) -> None:
    email = templates.render(
        "password-reset", "ada+x@example.com", code="777888", email="ada+x@example.com"
    )
    link = "https://app.chatr.test/reset-password?code=777888&email=ada%2Bx%40example.com"
    assert link in email.text
    assert f'href="{link.replace("&", "&amp;")}"' in email.html
    assert templates.reset_url("1 2", "a&b@example.com") == (
        "https://app.chatr.test/reset-password?code=1%202&email=a%26b%40example.com"
    )


def test_contact_template(templates: EmailTemplates) -> None:
    email = templates.render(
        "contact",
        "team@chatr.test",
        name="Grace\r\nBcc: x@example.com",
        email="grace@example.com",
        company=None,
        message="line one\nline two",
    )
    assert "\n" not in email.subject and "\r" not in email.subject
    assert email.reply_to == "grace@example.com"
    assert "Company" not in email.text
    assert "line one\nline two" in email.text
    assert "white-space:pre-wrap" in (email.html or "")
    bad = templates.render(
        "contact", "team@chatr.test", name="x", email="a@b.c, d@e.f", message="m"
    )
    assert bad.reply_to is None


def test_welcome_links_to_app(templates: EmailTemplates) -> None:
    email = templates.render("welcome", "a@example.com", name="Ada")
    assert "https://app.chatr.test" in email.text
    assert 'href="https://app.chatr.test"' in (email.html or "")
    assert templates.render("welcome", "a@example.com").text.startswith("Hi,")


def test_missing_and_unknown(templates: EmailTemplates) -> None:
    with pytest.raises(ValueError, match="code"):
        templates.render("verification", "a@example.com")
    with pytest.raises(ValueError, match="email"):
        templates.render("password-reset", "a@example.com", code="1")
    with pytest.raises(KeyError):
        templates.render("nope", "a@example.com")
    with pytest.raises(KeyError):
        EmailTemplates.sample_context("nope")


def test_long_subject_truncated(templates: EmailTemplates) -> None:
    email = templates.render("contact", "t@x.com", name="n" * 500, email="e@x.com", message="m")
    assert len(email.subject) <= 200 and email.subject.endswith("…")


def test_custom_template_dir(tmp_path: Path) -> None:
    folder = tmp_path / "email"
    folder.mkdir()
    for name in ("base.html", "_macros.html"):
        (folder / name).write_text((TEMPLATE_DIR / "email" / name).read_text())
    (folder / "welcome.html").write_text(
        '{% extends "email/base.html" %}{% block content %}Custom {{ name }}{% endblock %}'
    )
    (folder / "welcome.txt").write_text("Custom {{ name }}")
    email = EmailTemplates("P", "https://f", template_dir=tmp_path).render(
        "welcome", "a@b.c", name="<b>"
    )
    assert email.text == "Custom <b>"
    assert "Custom &lt;b&gt;" in (email.html or "")


def test_verification_email_carries_the_verify_link():
    from chatr_server.integrations.templates import EmailTemplates

    url = "http://localhost:3000/verify?code=123456&userId=u-1"
    email = EmailTemplates("Chatr", "http://localhost:3000").render(
        "verification", "a@b.co", code="123456", verify_url=url
    )
    assert url in email.text
    assert 'href="http://localhost:3000/verify?code=123456&amp;userId=u-1"' in email.html
