"""Media handling: content sniffing, image variants and audio metadata.

Uploads are never trusted by their declared type: :func:`sniff_mime` looks at
the bytes. Image work is CPU-bound, so the async wrappers run it in a thread.
"""

from __future__ import annotations

import asyncio
import codecs
import io
import math
import struct
import zipfile

from PIL import Image, ImageOps, UnidentifiedImageError

# Formats we accept as profile/cover pictures.
ACCEPTED_IMAGE_FORMATS = frozenset({"JPEG", "PNG", "GIF", "WEBP", "BMP"})
# The header may claim at most this many pixels (Pillow's own bomb threshold);
# JPEGs are decoded at a reduced scale via draft(), so they may be this large.
MAX_SOURCE_PIXELS = Image.MAX_IMAGE_PIXELS or 89_478_485
# …but what is actually decoded into memory must stay below this (~6000×6000).
MAX_DECODED_PIXELS = 36_000_000
JPEG_QUALITY = 70

PROFILE_SIZES: dict[str, tuple[int, int]] = {"": (400, 400), "-md": (320, 320), "-sm": (96, 96)}
COVER_SIZES: dict[str, tuple[int, int]] = {"": (1200, 600), "-sm": (600, 300)}

WAVEFORM_BARS = 100


class MediaError(ValueError):
    """An upload could not be processed; the message is safe to show to the user."""


# --- sniffing ----------------------------------------------------------------------------

_FTYP_BRANDS: dict[bytes, str] = {
    b"M4A ": "audio/mp4",
    b"M4B ": "audio/mp4",
    b"M4P ": "audio/mp4",
    b"F4A ": "audio/mp4",
    b"qt  ": "video/quicktime",
    b"heic": "image/heic",
    b"heix": "image/heic",
    b"hevc": "image/heic",
    b"hevx": "image/heic",
    b"heim": "image/heic",
    b"heis": "image/heic",
    b"mif1": "image/heif",
    b"msf1": "image/heif",
    b"avif": "image/avif",
    b"avis": "image/avif",
    b"3gp4": "video/3gpp",
    b"3gp5": "video/3gpp",
    b"3gp6": "video/3gpp",
    b"3ge6": "video/3gpp",
    b"3g2a": "video/3gpp2",
}

_OFFICE_PREFIXES = (
    ("word/", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
    ("xl/", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
    ("ppt/", "application/vnd.openxmlformats-officedocument.presentationml.presentation"),
)

_TEXT_SNIFF_BYTES = 64 * 1024


def _mpeg_frame(header: bytes) -> str | None:
    """Classify an MPEG audio frame header: ``audio/aac`` (ADTS), ``audio/mpeg`` or None."""
    if len(header) < 4 or header[0] != 0xFF or header[1] & 0xE0 != 0xE0:
        return None
    layer = (header[1] >> 1) & 0x03
    if header[1] & 0xF6 == 0xF0:  # 12-bit sync, layer 0: ADTS AAC
        return "audio/aac" if (header[2] >> 2) & 0x0F < 13 else None
    version = (header[1] >> 3) & 0x03
    bitrate = header[2] >> 4
    rate = (header[2] >> 2) & 0x03
    if version == 1 or layer == 0 or bitrate in (0, 15) or rate == 3:
        return None
    return "audio/mpeg"


def _sniff_zip(data: bytes) -> str:
    # OpenDocument stores an uncompressed "mimetype" entry first.
    if data[30:38] == b"mimetype":
        declared = data[38:120].split(b"PK", 1)[0]
        if declared.startswith(b"application/vnd.oasis.opendocument."):
            return declared.decode("ascii", "replace")
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = archive.namelist()
    except (zipfile.BadZipFile, ValueError, OSError, EOFError):
        return "application/zip"
    if "[Content_Types].xml" in names:
        for prefix, mime in _OFFICE_PREFIXES:
            if any(name.startswith(prefix) for name in names):
                return mime
    return "application/zip"


def _looks_like_text(data: bytes) -> bool:
    chunk = data[:_TEXT_SNIFF_BYTES]
    if b"\x00" in chunk:
        return False
    if chunk.startswith(codecs.BOM_UTF8):
        chunk = chunk[len(codecs.BOM_UTF8) :]
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        # final only when we saw everything, so a character cut at the chunk edge is fine.
        text = decoder.decode(chunk, final=len(data) <= _TEXT_SNIFF_BYTES)
    except UnicodeDecodeError:
        return False
    controls = sum(1 for ch in text if ord(ch) < 0x20 and ch not in "\t\n\r\f\v\x1b")
    return controls * 100 <= len(text)


def sniff_mime(data: bytes) -> str | None:
    """The MIME type suggested by the leading bytes of ``data``, or ``None`` if unknown."""
    if not data:
        return None
    head = data[:64]
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if head[:4] == b"RIFF" and len(head) >= 12:
        return {b"WEBP": "image/webp", b"WAVE": "audio/wav", b"AVI ": "video/x-msvideo"}.get(
            head[8:12]
        )
    if head[:2] == b"BM" and len(head) >= 18:
        dib_size = struct.unpack_from("<I", head, 14)[0]
        if dib_size in (12, 40, 52, 56, 64, 108, 124):
            return "image/bmp"
    if head[4:8] == b"ftyp" and len(head) >= 12:
        brand = head[8:12]
        if brand in _FTYP_BRANDS:
            return _FTYP_BRANDS[brand]
        return "video/3gpp" if brand.startswith(b"3g") else "video/mp4"
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return "video/webm" if b"webm" in data[:4096] else "video/x-matroska"
    if head.startswith(b"OggS"):
        page = data[:512]
        return "video/ogg" if b"theora" in page else "audio/ogg"
    if head.startswith(b"fLaC"):
        return "audio/flac"
    if head.startswith(b"ID3") and len(head) >= 10:
        # Skip the ID3v2 tag (syncsafe size) to tell MP3 from ADTS AAC.
        size = 10 + sum((b & 0x7F) << (7 * (3 - i)) for i, b in enumerate(head[6:10]))
        if head[5] & 0x10:
            size += 10
        return "audio/aac" if _mpeg_frame(data[size : size + 4]) == "audio/aac" else "audio/mpeg"
    if frame := _mpeg_frame(head):
        return frame
    if head.startswith(b"%PDF-"):
        return "application/pdf"
    if head[:4] in (b"PK\x03\x04", b"PK\x05\x06"):
        return _sniff_zip(data)
    if head.startswith(b"\x1f\x8b"):
        return "application/gzip"
    if head.startswith(b"7z\xbc\xaf\x27\x1c"):
        return "application/x-7z-compressed"
    if head.startswith((b"Rar!\x1a\x07\x00", b"Rar!\x1a\x07\x01\x00")):
        return "application/vnd.rar"
    if _looks_like_text(data):
        return "text/plain"
    return None


def base_mime(value: str | None) -> str:
    """``audio/webm;codecs=opus`` → ``audio/webm``; lower-cased, ``""`` when empty."""
    if not value:
        return ""
    return value.split(";", 1)[0].strip().lower()


# Containers that carry audio or video alike, and common aliases.
_MIME_FAMILIES: dict[str, str] = {
    "audio/mp4": "mp4",
    "audio/x-m4a": "mp4",
    "audio/m4a": "mp4",
    "audio/aac-mp4": "mp4",
    "video/mp4": "mp4",
    "video/quicktime": "mp4",
    "video/3gpp": "mp4",
    "audio/3gpp": "mp4",
    "audio/webm": "matroska",
    "video/webm": "matroska",
    "video/x-matroska": "matroska",
    "audio/x-matroska": "matroska",
    "audio/ogg": "ogg",
    "video/ogg": "ogg",
    "application/ogg": "ogg",
    "audio/opus": "ogg",
    "audio/mpeg": "mpeg",
    "audio/mp3": "mpeg",
    "audio/mpeg3": "mpeg",
    "audio/x-mpeg": "mpeg",
    "audio/wav": "wav",
    "audio/x-wav": "wav",
    "audio/wave": "wav",
    "audio/vnd.wave": "wav",
    "audio/aac": "aac",
    "audio/x-aac": "aac",
    "audio/flac": "flac",
    "audio/x-flac": "flac",
    "image/jpeg": "jpeg",
    "image/jpg": "jpeg",
    "image/pjpeg": "jpeg",
    "image/heic": "heif",
    "image/heif": "heif",
    "image/bmp": "bmp",
    "image/x-ms-bmp": "bmp",
    "application/zip": "zip",
    "application/x-zip-compressed": "zip",
}


def is_compatible(declared: str | None, sniffed: str | None) -> bool:
    """Whether a client's declared type is consistent with what :func:`sniff_mime` found.

    Browsers label the same container differently (a Safari voice note is
    ``audio/mp4`` but sniffs as ``video/mp4``), so families are compared.
    Office files are ZIPs, and any ``text/*`` declaration fits plain text.
    """
    declared, sniffed = base_mime(declared), base_mime(sniffed)
    if not declared or not sniffed:
        return False
    if declared == sniffed:
        return True
    family = _MIME_FAMILIES.get(declared)
    if family is not None and family == _MIME_FAMILIES.get(sniffed):
        return True
    if sniffed == "text/plain":
        return declared.startswith("text/") and declared not in {"text/html", "text/xml"}
    if declared.startswith(("application/vnd.openxmlformats", "application/vnd.oasis")):
        return sniffed == "application/zip"
    return False


# --- images -------------------------------------------------------------------------------


def _open_image(data: bytes, wanted: tuple[int, int]) -> Image.Image:
    """Decode ``data`` at the smallest scale that still covers ``wanted``, upright, in RGB."""
    try:
        image = Image.open(io.BytesIO(data), formats=sorted(ACCEPTED_IMAGE_FORMATS))
    except Image.DecompressionBombError:
        raise MediaError("Image is too large") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        raise MediaError("File is not a supported image (JPEG, PNG, GIF, WebP or BMP)") from None
    try:
        width, height = image.size
        if width <= 0 or height <= 0 or width * height > MAX_SOURCE_PIXELS:
            raise MediaError("Image is too large")
        if image.format == "JPEG":
            # Either orientation may end up on top after exif_transpose.
            side = max(wanted)
            image.draft("RGB", (side, side))
        width, height = image.size
        if width * height > MAX_DECODED_PIXELS:
            raise MediaError("Image is too large")
        image.load()
        image = ImageOps.exif_transpose(image)
        if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
            # Flatten transparency onto white rather than JPEG's default black.
            rgba = image.convert("RGBA")
            background = Image.new("RGB", rgba.size, (255, 255, 255))
            background.paste(rgba, mask=rgba.getchannel("A"))
            return background
        return image.convert("RGB")
    except MediaError:
        raise
    except Image.DecompressionBombError:
        raise MediaError("Image is too large") from None
    except (OSError, ValueError, SyntaxError, struct.error, EOFError):
        raise MediaError("Image could not be decoded; it may be truncated or corrupt") from None


def _fill(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    """Centre-crop to the aspect of ``size`` and resize (reducing_gap keeps big inputs fast)."""
    width, height = image.size
    target_w, target_h = size
    if width * target_h > height * target_w:  # too wide: trim the sides
        crop_w, crop_h = height * target_w / target_h, float(height)
    else:  # too tall: trim top and bottom
        crop_w, crop_h = float(width), width * target_h / target_w
    left, top = (width - crop_w) / 2, (height - crop_h) / 2
    box = (left, top, left + crop_w, top + crop_h)
    return image.resize(size, Image.Resampling.LANCZOS, box=box, reducing_gap=3.0)


def _jpeg(image: Image.Image) -> bytes:
    out = io.BytesIO()
    # No exif= argument: location and camera metadata are dropped on purpose.
    image.save(out, "JPEG", quality=JPEG_QUALITY, optimize=True, progressive=True)
    return out.getvalue()


def _variants(data: bytes, sizes: dict[str, tuple[int, int]]) -> dict[str, bytes]:
    largest = max(sizes.values(), key=lambda size: size[0] * size[1])
    base = _fill(_open_image(data, largest), largest)
    result: dict[str, bytes] = {}
    for suffix, size in sizes.items():
        image = base if size == largest else base.resize(size, Image.Resampling.LANCZOS)
        result[suffix] = _jpeg(image)
    return result


def profile_variants(data: bytes) -> dict[str, bytes]:
    """Centre-cropped JPEGs: ``''`` 400×400, ``'-md'`` 320×320, ``'-sm'`` 96×96."""
    return _variants(data, PROFILE_SIZES)


def cover_variants(data: bytes) -> dict[str, bytes]:
    """Centre-cropped JPEGs: ``''`` 1200×600 and ``'-sm'`` 600×300."""
    return _variants(data, COVER_SIZES)


async def profile_variants_async(data: bytes) -> dict[str, bytes]:
    """:func:`profile_variants` off the event loop."""
    return await asyncio.to_thread(profile_variants, data)


async def cover_variants_async(data: bytes) -> dict[str, bytes]:
    """:func:`cover_variants` off the event loop."""
    return await asyncio.to_thread(cover_variants, data)


# --- audio --------------------------------------------------------------------------------


def _audio_parsers(mime: str) -> list[type]:
    from mutagen.aac import AAC
    from mutagen.flac import FLAC
    from mutagen.mp3 import MP3
    from mutagen.mp4 import MP4
    from mutagen.oggopus import OggOpus
    from mutagen.oggvorbis import OggVorbis
    from mutagen.wave import WAVE

    family = _MIME_FAMILIES.get(mime)
    return {
        "mpeg": [MP3],
        "mp4": [MP4],
        "ogg": [OggOpus, OggVorbis],
        "wav": [WAVE],
        "aac": [AAC],
        "flac": [FLAC],
    }.get(family or "", [])


def audio_duration(data: bytes, mime: str | None) -> float | None:
    """Duration in seconds, or ``None`` when the format is unknown to mutagen (e.g. WebM)."""
    mime = base_mime(mime) or (sniff_mime(data) or "")
    for parser in _audio_parsers(mime):
        try:
            length = parser(io.BytesIO(data)).info.length
        except Exception:  # mutagen raises a variety of errors on bad input
            continue
        if isinstance(length, int | float) and math.isfinite(length) and length > 0:
            return float(length)
    return None


async def audio_duration_async(data: bytes, mime: str | None) -> float | None:
    """:func:`audio_duration` off the event loop (parsing may scan the whole file)."""
    return await asyncio.to_thread(audio_duration, data, mime)


def placeholder_waveform() -> list[float]:
    """A fixed, natural-looking 100-bar waveform (values in 0..1) for voice notes."""
    bars = []
    for i in range(WAVEFORM_BARS):
        value = 0.45 + 0.3 * math.sin(i * 0.37) * math.cos(i * 0.11) + 0.15 * math.sin(i * 1.7)
        bars.append(round(min(1.0, max(0.05, value)), 3))
    return bars
