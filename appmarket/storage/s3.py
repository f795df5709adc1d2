"""Objects in an S3 bucket; the only module that imports boto3 or botocore.

Objects are streamed both ways: ``put`` sends one bounded buffer or a multipart upload read from the
stream one part at a time, ``open`` yields a ranged GetObject body in chunks. S3's own "missing"
errors all become ``ObjectNotFound``; every other S3 failure becomes ``Upstream``.

A resumable writer is an S3 multipart upload on the final key (invisible until completed) plus one
staging object that carries the state between processes::

    <prefix>_staging/uploads/<key>    body: the tail (< part_size) not yet uploaded as a part
                                      metadata: upload-id, parts (how many parts count)

S3 refuses parts under 5 MiB except the last, so a writer closed with a small tail stores it there and
the next ``writer(key, append=True)`` reads it back and carries on.
"""

from __future__ import annotations

import builtins
import contextlib
import datetime as dt
import io
from collections.abc import Iterator
from typing import TYPE_CHECKING, BinaryIO, cast

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from appmarket.errors import Invalid, Upstream
from appmarket.settings import S3Storage
from appmarket.storage.base import CHUNK_SIZE, InvalidKey, ObjectInfo, ObjectNotFound, check_key

if TYPE_CHECKING:
    from botocore.response import StreamingBody
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.literals import BucketLocationConstraintType
    from mypy_boto3_s3.type_defs import CompletedPartTypeDef

STAGING = "_staging"
MIN_PART_SIZE = 5 * 1024 * 1024
MAX_COPY_OBJECT = 5 * 1024**3
_MISSING = frozenset({"NoSuchKey", "404", "NotFound", "NoSuchUpload"})


@contextlib.contextmanager
def _s3_errors(key: str) -> Iterator[None]:
    """Turn S3's many spellings of "missing" into ``ObjectNotFound`` and the rest into ``Upstream``."""
    try:
        yield
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code in _MISSING:
            raise ObjectNotFound(f"{key}: no such object") from exc
        raise Upstream(f"S3 failed on {key}: {code or exc}") from exc
    except BotoCoreError as exc:
        raise Upstream(f"S3 failed on {key}: {exc}") from exc


def _read_part(stream: BinaryIO, size: int, head: bytes = b"") -> bytearray:
    """Read up to ``size`` bytes (fewer only at end of stream) into one preallocated buffer."""
    buf = bytearray(size)
    view = memoryview(buf)
    got = len(head)
    view[:got] = head
    while got < size:
        chunk = stream.read(min(CHUNK_SIZE, size - got))
        if not chunk:
            break
        view[got : got + len(chunk)] = chunk
        got += len(chunk)
    view.release()
    del buf[got:]
    return buf


def _utc(when: dt.datetime) -> dt.datetime:
    """botocore answers in tzutc or tzlocal depending on the call; the contract speaks UTC."""
    return when.astimezone(dt.UTC)


def _blob(buf: bytearray) -> bytes:
    """botocore sends a bytearray as is; the stubs only say ``bytes``, and a copy would double memory."""
    return cast("bytes", buf)


class _BodyChunks(Iterator[bytes]):
    """Yields a GetObject body in chunks and always returns its connection to the pool."""

    def __init__(self, key: str, body: StreamingBody | None, chunk_size: int = CHUNK_SIZE) -> None:
        self._key, self._body, self._chunk_size = key, body, chunk_size

    def __next__(self) -> bytes:
        if self._body is None:
            raise StopIteration
        with _s3_errors(self._key):
            data = self._body.read(self._chunk_size)
        if not data:
            self.close()
            raise StopIteration
        return data

    def close(self) -> None:
        if self._body is not None:
            body, self._body = self._body, None
            body.close()

    def __del__(self) -> None:
        self.close()


class S3Writer:
    """A resumable writer: full parts go to a multipart upload, the tail to the staging object."""

    def __init__(self, store: S3Store, key: str, append: bool) -> None:
        self._store, self._key = store, key
        self._client, self._bucket, self._part_size = store.client, store.bucket, store.part_size
        self._final, self._staging = store.full_key(key), store.staging_key(key)
        self._upload_id: str | None = None
        self._parts: builtins.list[CompletedPartTypeDef] = []
        self._flushed = 0
        self._buf = bytearray()
        self._closed = self._done = False
        if append:
            self._resume()
        else:
            self._discard()

    def _resume(self) -> None:
        with _s3_errors(f"{self._key} (upload in progress)"):
            obj = self._client.get_object(Bucket=self._bucket, Key=self._staging)
            with contextlib.closing(obj["Body"]) as body:
                self._buf = bytearray(body.read())
            meta = obj.get("Metadata", {})
            self._upload_id = meta.get("upload-id") or None
            if self._upload_id is None:
                return
            count = int(meta.get("parts", "0"))
            pages = self._client.get_paginator("list_parts").paginate(
                Bucket=self._bucket, Key=self._final, UploadId=self._upload_id)
            for page in pages:
                for part in page.get("Parts", []):
                    # Parts past ``count`` come from a commit that died half-way: ignore them.
                    if part["PartNumber"] <= count:
                        self._parts.append({"PartNumber": part["PartNumber"], "ETag": part["ETag"]})
                        self._flushed += part["Size"]
        if len(self._parts) != count:
            raise ObjectNotFound(f"{self._key}: upload in progress lost parts")
        self._parts.sort(key=lambda p: p["PartNumber"])

    def _discard(self) -> None:
        """Forget any earlier upload of this key (abort its multipart upload, drop the tail)."""
        with _s3_errors(self._key):
            try:
                head = self._client.head_object(Bucket=self._bucket, Key=self._staging)
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") in _MISSING:
                    return
                raise
            upload_id = head.get("Metadata", {}).get("upload-id")
            if upload_id:
                self._store.abort_upload(self._final, upload_id)
            self._client.delete_object(Bucket=self._bucket, Key=self._staging)

    @property
    def size(self) -> int:
        return self._flushed + len(self._buf)

    def _check_live(self) -> None:
        if self._done:
            raise ValueError(f"writer for {self._key} was already committed or cancelled")

    def write(self, data: bytes) -> int:
        self._check_live()
        if self._closed:
            raise ValueError(f"writer for {self._key} is closed")
        self._buf += data
        while len(self._buf) >= self._part_size:
            self._upload_part(bytes(memoryview(self._buf)[: self._part_size]))
            del self._buf[: self._part_size]
        return len(data)

    def _upload_part(self, data: bytes) -> None:
        with _s3_errors(self._key):
            if self._upload_id is None:
                self._upload_id = self._client.create_multipart_upload(
                    Bucket=self._bucket, Key=self._final)["UploadId"]
            number = len(self._parts) + 1
            etag = self._client.upload_part(Bucket=self._bucket, Key=self._final, UploadId=self._upload_id,
                                            PartNumber=number, Body=data)["ETag"]
        self._parts.append({"PartNumber": number, "ETag": etag})
        self._flushed += len(data)

    def close(self) -> None:
        if self._closed or self._done:
            return
        meta = {"upload-id": self._upload_id, "parts": str(len(self._parts))} if self._upload_id else {}
        with _s3_errors(self._key):
            self._client.put_object(Bucket=self._bucket, Key=self._staging, Body=bytes(self._buf),
                                    Metadata=meta)
        self._closed = True

    def commit(self) -> None:
        self._check_live()
        with _s3_errors(self._key):
            if self._upload_id is None:
                self._client.put_object(Bucket=self._bucket, Key=self._final, Body=bytes(self._buf))
            else:
                if self._buf:
                    self._upload_part(bytes(self._buf))
                self._client.complete_multipart_upload(
                    Bucket=self._bucket, Key=self._final, UploadId=self._upload_id,
                    MultipartUpload={"Parts": self._parts})
            self._client.delete_object(Bucket=self._bucket, Key=self._staging)
        self._buf.clear()
        self._done = True

    def cancel(self) -> None:
        with _s3_errors(self._key):
            if self._upload_id is not None:
                self._store.abort_upload(self._final, self._upload_id)
            self._client.delete_object(Bucket=self._bucket, Key=self._staging)
        self._buf.clear()
        self._done = True


class S3Store:
    """Objects under ``settings.prefix`` in ``settings.bucket``, on AWS or any S3-compatible endpoint."""

    name: str = "s3"

    def __init__(self, settings: S3Storage) -> None:
        if settings.part_size < MIN_PART_SIZE:
            raise Invalid(f"S3 part_size must be at least {MIN_PART_SIZE} bytes")
        self.bucket = settings.bucket
        self.part_size = settings.part_size
        self.threshold = settings.multipart_threshold
        self.prefix = settings.prefix.strip("/") + "/" if settings.prefix.strip("/") else ""
        custom = settings.endpoint_url is not None
        config = Config(
            region_name=settings.region,
            signature_version="s3v4",  # presigned URLs with SigV4, which every region accepts
            retries={"mode": "standard", "max_attempts": 5},
            connect_timeout=10,
            read_timeout=60,
            tcp_keepalive=True,
            # Path-style works with every S3-compatible server; virtual hosts need wildcard DNS.
            s3={"addressing_style": "path"} if custom else None,
            # Many S3-compatible servers reject the CRC headers boto3 sends by default since 1.36.
            request_checksum_calculation="when_required" if custom else "when_supported",
            response_checksum_validation="when_required" if custom else "when_supported",
        )
        session = boto3.session.Session(aws_access_key_id=settings.access_key_id,
                                        aws_secret_access_key=settings.secret_access_key,
                                        region_name=settings.region)
        self.client: S3Client = session.client("s3", endpoint_url=settings.endpoint_url, config=config)
        if settings.create_bucket:
            self._ensure_bucket(settings.region)

    def _ensure_bucket(self, region: str) -> None:
        with _s3_errors(f"bucket {self.bucket}"):
            try:
                self.client.head_bucket(Bucket=self.bucket)
                return
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") not in ("404", "NoSuchBucket"):
                    raise
            try:  # another replica may create it at the same moment
                if region == "us-east-1":  # the one region that refuses a LocationConstraint
                    self.client.create_bucket(Bucket=self.bucket)
                else:
                    where = cast("BucketLocationConstraintType", region)  # any S3-compatible region name
                    self.client.create_bucket(Bucket=self.bucket,
                                              CreateBucketConfiguration={"LocationConstraint": where})
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") != "BucketAlreadyOwnedByYou":
                    raise

    # -- keys --------------------------------------------------------------------------------------

    def full_key(self, key: str) -> str:
        check_key(key)
        if key.split("/", 1)[0] == STAGING:
            raise InvalidKey(f"storage key {key!r} is reserved")
        return self.prefix + key

    def staging_key(self, key: str) -> str:
        return f"{self.prefix}{STAGING}/uploads/{check_key(key)}"

    def abort_upload(self, full_key: str, upload_id: str, *, best_effort: bool = False) -> None:
        """Abort a multipart upload; one already gone is fine, and ``best_effort`` swallows the rest."""
        try:
            self.client.abort_multipart_upload(Bucket=self.bucket, Key=full_key, UploadId=upload_id)
        except (ClientError, BotoCoreError) as exc:
            gone = isinstance(exc, ClientError) and exc.response.get("Error", {}).get("Code") in _MISSING
            if not (gone or best_effort):
                raise

    # -- contract ----------------------------------------------------------------------------------

    def put(self, key: str, stream: BinaryIO, size: int | None = None) -> int:
        full = self.full_key(key)
        head: builtins.list[bytearray] = []
        total, eof = 0, False
        if size is None or size <= self.threshold:
            # Read at most threshold + 1 bytes to learn which side of the threshold the stream is on.
            while total <= self.threshold and not eof:
                want = min(self.part_size, self.threshold + 1 - total)
                piece = _read_part(stream, want)
                eof = len(piece) < want
                if piece:
                    head.append(piece)
                    total += len(piece)
            if total <= self.threshold:
                if size is not None and total != size:
                    raise Invalid(f"{key}: expected {size} bytes, stream had {total}")
                with _s3_errors(key):
                    self.client.put_object(Bucket=self.bucket, Key=full, Body=b"".join(head))
                return total
        return self._put_multipart(key, full, stream, head=head, eof=eof, size=size)

    def _put_multipart(self, key: str, full: str, stream: BinaryIO, *, head: builtins.list[bytearray],
                       eof: bool, size: int | None) -> int:
        """Upload ``head`` then the rest of ``stream`` one part at a time; abort on any failure."""
        carry = bytes(head.pop()) if head and len(head[-1]) < self.part_size and not eof else b""
        with _s3_errors(key):
            upload_id = self.client.create_multipart_upload(Bucket=self.bucket, Key=full)["UploadId"]
        parts: builtins.list[CompletedPartTypeDef] = []
        total = 0
        try:
            while True:
                if head:
                    part = head.pop(0)
                elif eof:
                    break
                else:
                    part = _read_part(stream, self.part_size, carry)
                    carry = b""
                    eof = len(part) < self.part_size
                    if not part:
                        break
                with _s3_errors(key):
                    etag = self.client.upload_part(Bucket=self.bucket, Key=full, UploadId=upload_id,
                                                   PartNumber=len(parts) + 1, Body=_blob(part))["ETag"]
                parts.append({"PartNumber": len(parts) + 1, "ETag": etag})
                total += len(part)
                del part
            if size is not None and total != size:
                raise Invalid(f"{key}: expected {size} bytes, stream had {total}")
            with _s3_errors(key):
                self.client.complete_multipart_upload(Bucket=self.bucket, Key=full, UploadId=upload_id,
                                                      MultipartUpload={"Parts": parts})
        except BaseException:
            self.abort_upload(full, upload_id, best_effort=True)  # the original error is the news
            raise
        return total

    def put_bytes(self, key: str, data: bytes) -> int:
        return self.put(key, io.BytesIO(data), len(data))

    def open(self, key: str, offset: int = 0, length: int | None = None,
             chunk_size: int = CHUNK_SIZE) -> Iterator[bytes]:
        full = self.full_key(key)
        if offset < 0 or (length is not None and length < 0) or chunk_size <= 0:
            raise Invalid(f"{key}: negative offset or length, or no chunk size")
        if length == 0:
            self.stat(key)
            return _BodyChunks(key, None, chunk_size)
        end = "" if length is None else str(offset + length - 1)
        # A whole read sends no Range: "bytes=0-" on an empty object is a 416 on S3.
        whole = offset == 0 and length is None
        with _s3_errors(key):
            try:
                obj = (self.client.get_object(Bucket=self.bucket, Key=full) if whole else
                       self.client.get_object(Bucket=self.bucket, Key=full, Range=f"bytes={offset}-{end}"))
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") != "InvalidRange":
                    raise
                return _BodyChunks(key, None, chunk_size)  # offset at or past the end: no bytes, like a file
        return _BodyChunks(key, obj["Body"], chunk_size)

    def get_bytes(self, key: str) -> bytes:
        return b"".join(self.open(key))

    def stat(self, key: str) -> ObjectInfo:
        full = self.full_key(key)
        with _s3_errors(key):
            head = self.client.head_object(Bucket=self.bucket, Key=full)
        return ObjectInfo(key=key, size=head["ContentLength"], modified=_utc(head["LastModified"]))

    def exists(self, key: str) -> bool:
        with contextlib.suppress(ObjectNotFound):
            return bool(self.stat(key))
        return False

    def delete(self, key: str) -> None:
        self.stat(key)  # S3 deletes missing keys silently; the contract says ObjectNotFound
        with _s3_errors(key):
            self.client.delete_object(Bucket=self.bucket, Key=self.full_key(key))

    def list(self, prefix: str) -> Iterator[ObjectInfo]:
        if prefix:
            self.full_key(prefix.rstrip("/"))  # same validation as keys
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket,
                                                                      Prefix=self.prefix + prefix)
        with _s3_errors(prefix or "/"):
            for page in pages:
                for obj in page.get("Contents", []):
                    key = obj["Key"][len(self.prefix):]
                    if not key.startswith(STAGING + "/"):
                        yield ObjectInfo(key=key, size=obj["Size"], modified=_utc(obj["LastModified"]))

    def move(self, src: str, dst: str) -> None:
        src_full, dst_full = self.full_key(src), self.full_key(dst)
        info = self.stat(src)
        if src_full == dst_full:
            return
        with _s3_errors(src):
            if info.size < MAX_COPY_OBJECT:
                self.client.copy_object(Bucket=self.bucket, Key=dst_full,
                                        CopySource={"Bucket": self.bucket, "Key": src_full})
            else:  # CopyObject stops at 5 GiB; the managed copy switches to multipart copy
                self.client.copy({"Bucket": self.bucket, "Key": src_full}, self.bucket, dst_full)
            self.client.delete_object(Bucket=self.bucket, Key=src_full)

    def writers(self, prefix: str) -> Iterator[ObjectInfo]:
        if prefix:
            self.full_key(prefix.rstrip("/"))  # same validation as keys
        root = f"{self.prefix}{STAGING}/uploads/"
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=root + prefix)
        with _s3_errors(prefix or "/"):
            for page in pages:
                for obj in page.get("Contents", []):
                    # The staging object holds the tail only (the parts sit in the multipart upload).
                    yield ObjectInfo(key=obj["Key"][len(root):], size=obj["Size"],
                                     modified=_utc(obj["LastModified"]))

    def writer(self, key: str, append: bool = False) -> S3Writer:
        return S3Writer(self, key, append)

    def presigned_url(self, key: str, expires_in: int = 300) -> str | None:
        with _s3_errors(key):
            return self.client.generate_presigned_url(
                "get_object", Params={"Bucket": self.bucket, "Key": self.full_key(key)}, ExpiresIn=expires_in)

    def close(self) -> None:
        self.client.close()

