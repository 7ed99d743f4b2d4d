"""JWT signing keys for local development.

Production passes ``JWT_PRIVATE_KEY_PATH`` (user service only) and ``JWT_PUBLIC_KEY_PATH``
(everyone). For a fresh checkout, the default paths under ``var/keys/`` are filled with a
new RSA key pair the first time any service starts, under a file lock so that six
services starting together agree on one pair.
"""

import fcntl
import os
from pathlib import Path


def new_rsa_keypair() -> tuple[str, str]:
    """A fresh RSA 2048 pair as PEM text: (private PKCS8, public SubjectPublicKeyInfo)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    public = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return private.decode(), public.decode()


def ensure_dev_keypair(private_path: Path, public_path: Path) -> None:
    if private_path.exists() and public_path.exists():
        return
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    private_path.parent.mkdir(parents=True, exist_ok=True)
    lock_path = private_path.parent / ".keys.lock"
    with open(lock_path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if private_path.exists() and public_path.exists():
            return
        if private_path.exists():
            key = serialization.load_pem_private_key(private_path.read_bytes(), password=None)
        else:
            key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            pem = key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
            _atomic_write(private_path, pem, mode=0o600)
        public = key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        _atomic_write(public_path, public, mode=0o644)


def _atomic_write(path: Path, content: bytes, *, mode: int) -> None:
    tmp = path.with_suffix(path.suffix + f".{os.getpid()}.tmp")
    tmp.write_bytes(content)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def read_key(*, inline: str, path: str) -> str:
    if inline:
        return inline.replace("\\n", "\n")
    return Path(path).read_text() if path and Path(path).exists() else ""


def read_keys(paths: list[str], setting: str) -> list[str]:
    """PEM files named by a setting; a missing file is a configuration error, not a silent skip."""
    from django.core.exceptions import ImproperlyConfigured

    keys = []
    for path in paths:
        if not Path(path).is_file():
            raise ImproperlyConfigured(f"{setting}: no key file at {path}")
        keys.append(Path(path).read_text())
    return keys
