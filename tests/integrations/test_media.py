from __future__ import annotations

import io
import struct
import wave
import zipfile
import zlib

import pytest
from PIL import Image

from chatr_server.integrations.media import (
    MediaError,
    audio_duration,
    audio_duration_async,
    base_mime,
    cover_variants,
    cover_variants_async,
    is_compatible,
    placeholder_waveform,
    profile_variants,
    profile_variants_async,
    sniff_mime,
)

# --- sample files ------------------------------------------------------------------------


def image_bytes(
    fmt: str, size: tuple[int, int] = (64, 48), mode: str = "RGB", **kw: object
) -> bytes:
    out = io.BytesIO()
    Image.new(mode, size, (200, 30, 30) if mode == "RGB" else 0).save(out, fmt, **kw)
    return out.getvalue()


def wav_bytes(seconds: float = 1.5, rate: int = 8000) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(b"\x00\x01" * int(seconds * rate))
    return out.getvalue()


def mp3_bytes(frames: int = 40) -> bytes:
    # MPEG-1 Layer III, 128 kbit/s, 44.1 kHz, no padding: 417-byte frames.
    header = b"\xff\xfb\x90\x00"
    return (header + b"\x00" * 413) * frames


def zip_bytes(names: list[str]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name in names:
            archive.writestr(name, "<x/>")
    return out.getvalue()


def odt_bytes() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr(
            zipfile.ZipInfo("mimetype"), "application/vnd.oasis.opendocument.text"
        )  # stored, first
        archive.writestr("content.xml", "<x/>")
    return out.getvalue()


def png_header(width: int, height: int) -> bytes:
    """A PNG whose header claims a size; the pixel data is never needed to reject it."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\x00"))
        + chunk(b"IEND", b"")
    )


def ebml(doctype: bytes) -> bytes:
    return (
        b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\x82"
        + bytes([0x80 | len(doctype)])
        + doctype
        + b"\x00" * 16
    )


def ftyp(brand: bytes) -> bytes:
    return b"\x00\x00\x00\x18ftyp" + brand + b"\x00\x00\x02\x00" + brand + b"isom" + b"\x00" * 16


SNIFF_CASES: list[tuple[str, bytes, str | None]] = [
    ("jpeg", image_bytes("JPEG"), "image/jpeg"),
    ("png", image_bytes("PNG"), "image/png"),
    ("gif", image_bytes("GIF", mode="P"), "image/gif"),
    ("webp", image_bytes("WEBP"), "image/webp"),
    ("bmp", image_bytes("BMP"), "image/bmp"),
    ("heic", ftyp(b"heic"), "image/heic"),
    ("avif", ftyp(b"avif"), "image/avif"),
    ("mp4", ftyp(b"isom"), "video/mp4"),
    ("m4a", ftyp(b"M4A "), "audio/mp4"),
    ("mov", ftyp(b"qt  "), "video/quicktime"),
    ("3gp", ftyp(b"3gp4"), "video/3gpp"),
    ("webm", ebml(b"webm"), "video/webm"),
    ("mkv", ebml(b"matroska"), "video/x-matroska"),
    ("ogg-opus", b"OggS\x00\x02" + b"\x00" * 22 + b"OpusHead\x01\x01", "audio/ogg"),
    ("ogg-theora", b"OggS\x00\x02" + b"\x00" * 22 + b"\x80theora", "video/ogg"),
    ("mp3-id3", b"ID3\x04\x00\x00\x00\x00\x00\x00" + mp3_bytes(2), "audio/mpeg"),
    ("mp3-sync", mp3_bytes(2), "audio/mpeg"),
    ("aac-adts", b"\xff\xf1\x50\x80\x02\x1f\xfc" + b"\x00" * 32, "audio/aac"),
    ("aac-id3", b"ID3\x04\x00\x00\x00\x00\x00\x00\xff\xf1\x50\x80" + b"\x00" * 8, "audio/aac"),
    ("wav", wav_bytes(0.1), "audio/wav"),
    ("flac", b"fLaC\x00\x00\x00\x22" + b"\x00" * 34, "audio/flac"),
    ("pdf", b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n", "application/pdf"),
    ("zip", zip_bytes(["a.txt", "b/c.txt"]), "application/zip"),
    (
        "docx",
        zip_bytes(["[Content_Types].xml", "_rels/.rels", "word/document.xml"]),
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ),
    (
        "xlsx",
        zip_bytes(["[Content_Types].xml", "xl/workbook.xml"]),
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ),
    ("odt", odt_bytes(), "application/vnd.oasis.opendocument.text"),
    ("gzip", zlib.compress(b"x") and b"\x1f\x8b\x08\x00" + b"\x00" * 16, "application/gzip"),
    ("text", "héllo wörld\nsecond line 👋\n".encode(), "text/plain"),
    ("text-bom", b"\xef\xbb\xbfcsv,header\n1,2\n", "text/plain"),
    ("text-cut-mid-char", ("é" * 40_000).encode()[: 64 * 1024 + 1], "text/plain"),
    ("empty", b"", None),
    ("nul", b"abc\x00def", None),
    ("latin1", "caf\xe9 cr\xe8me".encode("latin-1"), None),
    ("binary", bytes(range(256)) * 4, None),
    ("bm-text", b"BM is a text line, not a bitmap header\n", "text/plain"),
    ("riff-unknown", b"RIFF\x00\x00\x00\x00XXXX", None),
]


@pytest.mark.parametrize(
    ("data", "expected"), [c[1:] for c in SNIFF_CASES], ids=[c[0] for c in SNIFF_CASES]
)
def test_sniff_mime(data: bytes, expected: str | None) -> None:
    assert sniff_mime(data) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("audio/webm;codecs=opus", "audio/webm"),
        (" Image/JPEG ; q=1", "image/jpeg"),
        ("text/plain", "text/plain"),
        ("", ""),
        (None, ""),
    ],
)
def test_base_mime(value: str | None, expected: str) -> None:
    assert base_mime(value) == expected


@pytest.mark.parametrize(
    ("declared", "sniffed", "ok"),
    [
        ("audio/mp4", "video/mp4", True),
        ("audio/x-m4a", "audio/mp4", True),
        ("audio/webm;codecs=opus", "video/webm", True),
        ("audio/mp3", "audio/mpeg", True),
        ("audio/x-wav", "audio/wav", True),
        ("image/jpg", "image/jpeg", True),
        ("text/csv", "text/plain", True),
        ("text/html", "text/plain", False),
        (
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            "application/zip",
            True,
        ),
        ("image/png", "image/jpeg", False),
        ("image/svg+xml", "text/plain", False),
        ("audio/mpeg", None, False),
    ],
)
def test_is_compatible(declared: str, sniffed: str | None, ok: bool) -> None:
    assert is_compatible(declared, sniffed) is ok


# --- image variants -------------------------------------------------------------------


def decoded(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    assert image.format == "JPEG"
    return image


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "GIF", "WEBP", "BMP"])
def test_profile_variants_sizes(fmt: str) -> None:
    source = image_bytes(fmt, (900, 500), mode="P" if fmt == "GIF" else "RGB")
    variants = profile_variants(source)
    assert {k: decoded(v).size for k, v in variants.items()} == {
        "": (400, 400),
        "-md": (320, 320),
        "-sm": (96, 96),
    }


def test_cover_variants_sizes_and_upscaling() -> None:
    variants = cover_variants(image_bytes("PNG", (300, 300)))
    assert {k: decoded(v).size for k, v in variants.items()} == {"": (1200, 600), "-sm": (600, 300)}


def test_large_jpeg_uses_draft_and_strips_exif() -> None:
    exif = Image.Exif()
    exif[0x010F] = "SecretCam"  # Make
    source = image_bytes("JPEG", (4000, 3000), exif=exif.tobytes())
    variants = profile_variants(source)
    image = decoded(variants[""])
    assert image.size == (400, 400)
    assert not image.getexif()
    assert b"SecretCam" not in variants[""]


def test_exif_orientation_applied() -> None:
    # Stored 200×100: top half red, bottom half blue. Orientation 6 = rotate 90° clockwise,
    # so it displays as 100×200 with blue on the left and red on the right.
    image = Image.new("RGB", (200, 100), (255, 0, 0))
    image.paste((0, 0, 255), (0, 50, 200, 100))
    exif = Image.Exif()
    exif[0x0112] = 6
    out = io.BytesIO()
    image.save(out, "JPEG", quality=95, exif=exif.tobytes())
    result = decoded(profile_variants(out.getvalue())[""]).convert("RGB")
    left, right = result.getpixel((40, 200)), result.getpixel((360, 200))
    assert left[2] > 200 and left[0] < 60, left
    assert right[0] > 200 and right[2] < 60, right


def test_transparency_flattened_onto_white() -> None:
    out = io.BytesIO()
    Image.new("RGBA", (50, 50), (0, 0, 0, 0)).save(out, "PNG")
    pixel = decoded(profile_variants(out.getvalue())["-sm"]).convert("RGB").getpixel((48, 48))
    assert min(pixel) > 240


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"definitely not an image",
        image_bytes("JPEG", (400, 300))[:300],
        image_bytes("PNG", (400, 300))[:120],
        ftyp(b"heic"),
        b"%PDF-1.4 not an image",
    ],
    ids=["empty", "text", "truncated-jpeg", "truncated-png", "heic", "pdf"],
)
def test_garbage_rejected(data: bytes) -> None:
    with pytest.raises(MediaError):
        profile_variants(data)


def test_decompression_bomb_rejected() -> None:
    with pytest.raises(MediaError, match="too large"):
        profile_variants(png_header(100_000, 100_000))
    with pytest.warns(Image.DecompressionBombWarning), pytest.raises(MediaError, match="too large"):
        cover_variants(png_header(10_000, 10_000))
    # Under Pillow's threshold but too much to decode at full scale.
    with pytest.raises(MediaError, match="too large"):
        profile_variants(png_header(7_000, 6_000))


async def test_async_wrappers() -> None:
    source = image_bytes("JPEG", (640, 480))
    assert set(await profile_variants_async(source)) == {"", "-md", "-sm"}
    assert set(await cover_variants_async(source)) == {"", "-sm"}
    with pytest.raises(MediaError):
        await profile_variants_async(b"nope")


# --- audio ------------------------------------------------------------------------------


def test_wav_duration() -> None:
    assert audio_duration(wav_bytes(1.5), "audio/wav") == pytest.approx(1.5, abs=0.01)
    assert audio_duration(wav_bytes(1.5), "audio/x-wav; rate=8000") == pytest.approx(1.5, abs=0.01)
    assert audio_duration(wav_bytes(1.5), None) == pytest.approx(1.5, abs=0.01)


def test_mp3_duration() -> None:
    assert audio_duration(mp3_bytes(40), "audio/mpeg") == pytest.approx(40 * 1152 / 44100, rel=0.05)


@pytest.mark.parametrize(
    ("data", "mime"),
    [
        (ebml(b"webm"), "audio/webm"),
        (b"garbage" * 50, "audio/mpeg"),
        (b"garbage" * 50, "audio/mp4"),
        (wav_bytes(1.0), "application/octet-stream"),
        (b"", None),
    ],
    ids=["webm", "bad-mp3", "bad-mp4", "unknown-mime", "empty"],
)
def test_duration_unknown(data: bytes, mime: str | None) -> None:
    assert audio_duration(data, mime) is None


async def test_duration_async() -> None:
    assert await audio_duration_async(wav_bytes(0.5), "audio/wav") == pytest.approx(0.5, abs=0.01)


def test_placeholder_waveform() -> None:
    bars = placeholder_waveform()
    assert len(bars) == 100
    assert all(0.0 <= bar <= 1.0 for bar in bars)
    assert len(set(bars)) > 20
    assert placeholder_waveform() == bars
