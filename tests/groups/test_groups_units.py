"""Pure helpers of the group services and presenters."""

from __future__ import annotations

import re

from chatr_server.presenters.groups import user_name
from chatr_server.services.groups import image_variant_urls, parse_duration, parse_waveform
from chatr_server.services.upload_policy import (
    content_matches,
    display_name,
    message_type,
    stored_name,
)


def test_user_name_fallbacks():
    assert user_name("Alice", "@alice") == "Alice"
    assert user_name(None, "@alice") == "alice"
    assert user_name("", "@bob") == "bob"
    assert user_name(None, None) == "Someone"
    assert user_name(None, "@") == "Someone"


def test_storage_name_is_a_safe_key():
    name = stored_name("voice-1741183629000.webm")
    assert re.fullmatch(r"voice-1741183629000-\d{13}-\d{1,9}\.webm", name)
    assert re.fullmatch(r"file-\d+-\d+", stored_name("...."))
    assert re.fullmatch(r"a_b-\d+-\d+\.txt", stored_name("a b.txt"))
    assert "/" not in stored_name("x/../../y.txt")


def test_display_name():
    assert display_name("C:\\Users\\me\\doc.pdf") == "doc.pdf"
    assert display_name("a\x00b.txt") == "ab.txt"
    assert display_name("") == "file"
    assert len(display_name("a" * 400)) == 255


def test_message_type():
    assert message_type("audio/webm", None) == "audio"
    assert message_type("video/mp4", "image") == "video"
    assert message_type("image/png", "image") == "image"
    assert message_type("image/png", None) == "file"
    assert message_type("application/pdf", "image") == "file"


def test_content_matches():
    assert content_matches("application/pdf", b"%PDF-1.7\n...")
    assert not content_matches("application/pdf", b"hello")
    assert content_matches("application/msword", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1rest")
    assert not content_matches("application/msword", b"PK\x03\x04")


def test_waveform_and_duration_parsing():
    assert parse_waveform([0, 0.5, 1]) == [0.0, 0.5, 1.0]
    assert parse_waveform([True]) is None
    assert parse_waveform([float("nan")]) is None
    assert parse_waveform("1,2") is None
    assert parse_duration(3) == 3.0
    assert parse_duration(True) is None
    assert parse_duration(-1) is None
    assert parse_duration(float("inf")) is None


def test_image_variant_urls():
    assert image_variant_urls(None) == []
    assert image_variant_urls("/uploads/group-profiles/g-1.jpg") == [
        "/uploads/group-profiles/g-1.jpg",
        "/uploads/group-profiles/g-1-md.jpg",
        "/uploads/group-profiles/g-1-sm.jpg",
    ]
    assert image_variant_urls("https://x/y.png") == ["https://x/y.png"]
