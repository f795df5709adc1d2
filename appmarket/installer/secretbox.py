"""Encryption at rest for cluster credentials (Fernet: AES-128-CBC + HMAC-SHA256, from ``cryptography``).

The key comes from settings (``secret_key``, a Fernet key: 32 url-safe base64 bytes, as
``Fernet.generate_key()`` makes) or from a key file created with mode 0600 under the data directory on
first start. A wrong key fails with a clear error (Fernet authenticates every token), never garbage;
losing the key makes stored credentials unreadable, never readable by others.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from appmarket.errors import AppMarketError, Invalid

KEY_FILE = "secret.key"


def load_or_create_key(data_dir: Path, configured: str = "") -> bytes:
    """The configured key, else the key file's, else a new key file (the first of racing processes wins).

    Replicas that do not share a data directory must share ``secret_key`` instead: each would otherwise
    create its own key file and be unable to open the clusters another one registered.
    """
    if configured:
        return configured.encode()
    path = data_dir / KEY_FILE
    try:
        return _read_key(path)
    except FileNotFoundError:
        pass
    data_dir.mkdir(parents=True, exist_ok=True)
    # Written whole under a private name, then linked into place: link() fails if the file exists, so
    # a process that loses the race reads the winner's key, and nobody ever reads a half-written file.
    fd, tmp = tempfile.mkstemp(prefix=".secret-", dir=data_dir)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, Fernet.generate_key())
        os.fsync(fd)
        os.close(fd)
        with contextlib.suppress(FileExistsError):  # another process created it first: use its key
            os.link(tmp, path)
    finally:
        os.unlink(tmp)
    return _read_key(path)


def _read_key(path: Path) -> bytes:
    key = path.read_bytes().strip()
    if not key:
        raise Invalid(f"key file {path} is empty; restore it (or set secret_key)")
    return key


class SecretBox:
    def __init__(self, key: bytes) -> None:
        try:
            self._fernet = Fernet(key)
        except ValueError as exc:
            raise Invalid("secret_key must be 32 url-safe base64-encoded bytes (Fernet key)") from exc

    def seal(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode()).decode()

    def open(self, sealed: str) -> str:
        try:
            return self._fernet.decrypt(sealed.encode()).decode()
        except InvalidToken as exc:
            # Not the caller's fault (a 500 on the API): the service runs with another key than sealed them.
            raise AppMarketError("stored cluster credentials cannot be decrypted with the configured key: "
                                 "set the secret_key (or key file) they were sealed with",
                                 code="credentials_unreadable") from exc
