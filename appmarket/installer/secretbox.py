"""Encryption at rest for cluster credentials (Fernet: AES-128-CBC + HMAC-SHA256, from ``cryptography``).

The key comes from settings (``secret_key``) or from a key file created with mode 0600 under the data
directory on first start. Losing the key makes stored credentials unreadable, never readable by others.
"""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from appmarket.errors import Invalid

KEY_FILE = "secret.key"


def load_or_create_key(data_dir: Path, configured: str = "") -> bytes:
    if configured:
        return configured.encode()
    path = data_dir / KEY_FILE
    if path.exists():
        return path.read_bytes().strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    key = Fernet.generate_key()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, key)
    finally:
        os.close(fd)
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
            raise Invalid("stored credentials cannot be decrypted with the configured key") from exc
