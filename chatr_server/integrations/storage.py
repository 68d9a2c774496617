"""File storage for uploads: a local folder in development, S3 in production.

Both back-ends speak in *keys* such as ``profiles/<name>.jpg``; the public URL
returned by :meth:`Storage.put` is what gets stored in the database, and
:meth:`Storage.key_from_url` turns such a URL back into a key (for deletion)
only when it points into our own storage.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable
from urllib.parse import quote, unquote, urlsplit

if TYPE_CHECKING:
    from chatr_server.settings import Settings

log = logging.getLogger(__name__)

MAX_KEY_LENGTH = 1024


class StorageError(RuntimeError):
    """The storage back-end failed (network, permissions, …)."""


def is_safe_key(key: str) -> bool:
    """True when ``key`` is a relative, normalised path that cannot escape the store."""
    if not key or len(key) > MAX_KEY_LENGTH or key.startswith("/"):
        return False
    if "\\" in key or any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in key):
        return False
    return all(part not in {"", ".", ".."} for part in key.split("/"))


def _check_key(key: str) -> str:
    if not is_safe_key(key):
        raise ValueError("unsafe storage key")
    return key


def content_disposition(filename: str, *, inline: bool = False) -> str:
    """A ``Content-Disposition`` value with an ASCII fallback and an RFC 5987 UTF-8 name."""
    kind = "inline" if inline else "attachment"
    cleaned = "".join(ch for ch in filename if ch >= " " and ch != "\x7f").strip() or "file"
    fallback = "".join(ch if 0x20 <= ord(ch) < 0x7F and ch not in '"\\;' else "_" for ch in cleaned)
    return f"{kind}; filename=\"{fallback}\"; filename*=UTF-8''{quote(cleaned, safe='')}"


def _key_under(path: str, prefix: str) -> str | None:
    """Strip ``prefix/`` from a URL path and return the decoded key, if safe."""
    prefix = prefix.rstrip("/") + "/"
    if not path.startswith(prefix):
        return None
    key = unquote(path[len(prefix) :])
    return key if is_safe_key(key) else None


@runtime_checkable
class Storage(Protocol):
    """Where uploaded files live."""

    async def put(self, key: str, data: bytes, content_type: str) -> str:
        """Store ``data`` under ``key`` (replacing it) and return its public URL."""
        ...

    async def get(self, key: str) -> bytes | None:
        """The stored bytes, or ``None`` when there is no such object."""
        ...

    async def delete(self, key: str) -> None:
        """Remove ``key``; a missing object is not an error."""
        ...

    def url_for(self, key: str) -> str:
        """The URL :meth:`put` returns for ``key`` (the form stored in the database)."""
        ...

    def key_from_url(self, url: str) -> str | None:
        """The key behind one of *our* URLs; ``None`` for foreign or unsafe ones."""
        ...

    async def signed_url(self, key: str, filename: str, ttl_s: int) -> str | None:
        """A time-limited download URL, or ``None`` meaning "serve it yourself"."""
        ...

    def local_path(self, key: str) -> Path | None:
        """The file behind ``key`` for back-ends that keep files on disk, else ``None``."""
        ...

    async def close(self) -> None:
        """Release connections."""
        ...


class LocalStorage:
    """Files under ``root``, served by the app itself at ``url_prefix``."""

    def __init__(
        self, root: Path, url_prefix: str = "/uploads", *, public_url: str | None = None
    ) -> None:
        self.root = Path(root)
        self.url_prefix = "/" + url_prefix.strip("/")
        # When set, absolute URLs on this origin are recognised as ours too.
        self.public_url = public_url.rstrip("/") if public_url else None

    def url_for(self, key: str) -> str:
        return f"{self.url_prefix}/{quote(_check_key(key), safe='/')}"

    def local_path(self, key: str) -> Path | None:
        if not is_safe_key(key):
            return None
        root = self.root.resolve()
        path = (root / key).resolve()
        # resolve() follows symlinks, so a link pointing outside the root is refused too.
        if not path.is_relative_to(root) or path == root:
            return None
        return path

    def _path(self, key: str) -> Path:
        path = self.local_path(key)
        if path is None:
            raise ValueError("unsafe storage key")
        return path

    async def put(self, key: str, data: bytes, content_type: str) -> str:
        path = self._path(key)

        def _write() -> None:
            path.parent.mkdir(parents=True, exist_ok=True)
            # Write then rename so readers never see a half-written file.
            tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
            try:
                tmp.write_bytes(data)
                os.replace(tmp, path)
            finally:
                tmp.unlink(missing_ok=True)

        await asyncio.to_thread(_write)
        return self.url_for(key)

    async def get(self, key: str) -> bytes | None:
        path = self.local_path(key)
        if path is None:
            return None

        def _read() -> bytes | None:
            try:
                return path.read_bytes()
            except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
                return None

        return await asyncio.to_thread(_read)

    async def delete(self, key: str) -> None:
        path = self.local_path(key)
        if path is None:
            return

        def _unlink() -> None:
            with contextlib.suppress(FileNotFoundError, IsADirectoryError, NotADirectoryError):
                path.unlink()

        await asyncio.to_thread(_unlink)

    def key_from_url(self, url: str) -> str | None:
        if not url:
            return None
        parts = urlsplit(url)
        if parts.scheme or parts.netloc:
            if not self.public_url:
                return None
            origin = urlsplit(self.public_url)
            if (parts.scheme, parts.netloc) != (origin.scheme, origin.netloc):
                return None
            prefix = origin.path.rstrip("/") + self.url_prefix
        else:
            prefix = self.url_prefix
        return _key_under(parts.path, prefix)

    async def signed_url(self, key: str, filename: str, ttl_s: int) -> str | None:
        return None

    async def close(self) -> None:
        return None


class S3Storage:
    """An S3 (or S3-compatible) bucket, reached through a lazily opened aiobotocore client."""

    def __init__(
        self,
        bucket: str,
        region: str,
        endpoint_url: str | None = None,
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
        public_url: str | None = None,
        *,
        max_attempts: int = 3,
    ) -> None:
        self.bucket = bucket
        self._max_attempts = max_attempts
        self.region = region
        self.endpoint_url = endpoint_url.rstrip("/") if endpoint_url else None
        self._access_key_id = access_key_id
        self._secret_access_key = secret_access_key
        if public_url:
            self.public_base = public_url.rstrip("/")
        elif self.endpoint_url:
            # S3-compatible servers (MinIO, moto) are addressed path-style.
            self.public_base = f"{self.endpoint_url}/{bucket}"
        else:
            self.public_base = f"https://{bucket}.s3.{region}.amazonaws.com"
        self._client: Any = None
        self._stack: contextlib.AsyncExitStack | None = None
        self._lock = asyncio.Lock()

    async def _get_client(self) -> Any:
        if self._client is not None:
            return self._client
        async with self._lock:
            if self._client is None:
                from aiobotocore.config import AioConfig
                from aiobotocore.session import get_session

                config = AioConfig(
                    signature_version="s3v4",
                    s3={"addressing_style": "path" if self.endpoint_url else "auto"},
                    connect_timeout=5,
                    read_timeout=30,
                    retries={"max_attempts": self._max_attempts, "mode": "standard"},
                )
                stack = contextlib.AsyncExitStack()
                self._client = await stack.enter_async_context(
                    get_session().create_client(
                        "s3",
                        region_name=self.region,
                        endpoint_url=self.endpoint_url,
                        aws_access_key_id=self._access_key_id,
                        aws_secret_access_key=self._secret_access_key,
                        config=config,
                    )
                )
                self._stack = stack
        return self._client

    def url_for(self, key: str) -> str:
        return f"{self.public_base}/{quote(_check_key(key), safe='/')}"

    async def put(self, key: str, data: bytes, content_type: str) -> str:
        _check_key(key)
        client = await self._get_client()
        try:
            await client.put_object(
                Bucket=self.bucket, Key=key, Body=data, ContentType=content_type
            )
        except Exception as exc:
            log.warning("s3 put failed", extra={"error": type(exc).__name__})
            raise StorageError("could not store the file") from exc
        return self.url_for(key)

    async def get(self, key: str) -> bytes | None:
        if not is_safe_key(key):
            return None
        from botocore.exceptions import ClientError

        client = await self._get_client()
        try:
            response = await client.get_object(Bucket=self.bucket, Key=key)
            async with response["Body"] as stream:
                return await stream.read()
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in {"NoSuchKey", "404", "NotFound"}:
                return None
            log.warning("s3 get failed", extra={"error": type(exc).__name__})
            raise StorageError("could not read the file") from exc
        except Exception as exc:
            log.warning("s3 get failed", extra={"error": type(exc).__name__})
            raise StorageError("could not read the file") from exc

    async def delete(self, key: str) -> None:
        if not is_safe_key(key):
            return
        client = await self._get_client()
        try:
            # DeleteObject succeeds for missing keys, which is what we want.
            await client.delete_object(Bucket=self.bucket, Key=key)
        except Exception as exc:
            log.warning("s3 delete failed", extra={"error": type(exc).__name__})
            raise StorageError("could not delete the file") from exc

    def _recognised_bases(self) -> list[str]:
        bases = [
            self.public_base,
            f"https://{self.bucket}.s3.{self.region}.amazonaws.com",
            f"https://{self.bucket}.s3.amazonaws.com",
            f"https://s3.{self.region}.amazonaws.com/{self.bucket}",
        ]
        if self.endpoint_url:
            bases.append(f"{self.endpoint_url}/{self.bucket}")
        return list(dict.fromkeys(bases))

    def key_from_url(self, url: str) -> str | None:
        if not url:
            return None
        parts = urlsplit(url)
        if not parts.scheme or not parts.netloc:
            return None
        for base in self._recognised_bases():
            origin = urlsplit(base)
            if (parts.scheme, parts.netloc.lower()) != (origin.scheme, origin.netloc.lower()):
                continue
            key = _key_under(parts.path, origin.path or "/")
            if key is not None:
                return key
        return None

    async def signed_url(self, key: str, filename: str, ttl_s: int) -> str | None:
        _check_key(key)
        client = await self._get_client()
        return await client.generate_presigned_url(
            "get_object",
            Params={
                "Bucket": self.bucket,
                "Key": key,
                "ResponseContentDisposition": content_disposition(filename),
            },
            ExpiresIn=int(ttl_s),
        )

    def local_path(self, key: str) -> Path | None:
        return None

    async def close(self) -> None:
        stack, self._stack, self._client = self._stack, None, None
        if stack is not None:
            await stack.aclose()


def create_storage(settings: Settings) -> Storage:
    """S3 when ``S3_BUCKET`` is configured, otherwise a folder under ``UPLOADS_DIR``."""
    if settings.s3_bucket:
        return S3Storage(
            bucket=settings.s3_bucket,
            region=settings.aws_region,
            endpoint_url=settings.s3_endpoint_url,
            access_key_id=settings.aws_access_key_id,
            secret_access_key=settings.aws_secret_access_key,
            public_url=settings.s3_public_url,
        )
    return LocalStorage(settings.uploads_dir, public_url=settings.public_url)
