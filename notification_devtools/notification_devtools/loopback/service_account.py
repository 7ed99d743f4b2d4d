"""Generate a Google service-account key file whose ``token_uri`` points at a loopback server.

The file has the same shape as the JSON keys downloaded from the Google Cloud console, so
``firebase_admin.credentials.Certificate(path)`` (and ``google.oauth2.service_account``)
load it unchanged. The RSA key is generated locally; it is only ever trusted by the loopback
FCM server (see :mod:`notification_devtools.loopback.fcm`), which can verify the JWT assertions
signed with it.

CLI::

    python -m notification_devtools.loopback.service_account PATH --token-uri http://127.0.0.1:9099/token
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
from urllib.parse import urlsplit

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

__all__ = ["generate_service_account", "write_service_account"]

DEFAULT_PROJECT_ID = "loopback-project"


def generate_service_account(*, token_uri: str, project_id: str = DEFAULT_PROJECT_ID) -> dict:
    """Return a new service-account dict (with a fresh RSA 2048 private key)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        encoding=serialization.Encoding.PEM,
        format=serialization.PrivateFormat.PKCS8,
        encryption_algorithm=serialization.NoEncryption(),
    ).decode("ascii")
    parts = urlsplit(token_uri)
    origin = f"{parts.scheme}://{parts.netloc}"
    client_email = f"loopback-sender@{project_id}.iam.gserviceaccount.com"
    return {
        "type": "service_account",
        "project_id": project_id,
        "private_key_id": secrets.token_hex(20),
        "private_key": pem,
        "client_email": client_email,
        "client_id": str(10**20 + secrets.randbelow(9 * 10**20)),
        # auth_uri and the cert URLs are not used by the service-account flow; they point at
        # the loopback origin so that nothing in the file names a real Google host.
        "auth_uri": f"{origin}/auth",
        "token_uri": token_uri,
        "auth_provider_x509_cert_url": f"{origin}/certs",
        "client_x509_cert_url": f"{origin}/certs/{client_email}",
        "universe_domain": "googleapis.com",
    }


def write_service_account(path: str | os.PathLike, *, token_uri: str, project_id: str = DEFAULT_PROJECT_ID) -> dict:
    """Generate a service account, write it to ``path`` (mode 0600) and return it as a dict."""
    info = generate_service_account(token_uri=token_uri, project_id=project_id)
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    tmp = f"{path}.tmp-{os.getpid()}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(info, fh, indent=2)
        fh.write("\n")
    os.replace(tmp, path)
    return info


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m notification_devtools.loopback.service_account",
        description="Write a service-account JSON key whose token_uri points at a loopback server.",
    )
    parser.add_argument("path", help="where to write the JSON key file")
    parser.add_argument("--token-uri", required=True, help="e.g. http://127.0.0.1:9099/token")
    parser.add_argument("--project-id", default=DEFAULT_PROJECT_ID)
    args = parser.parse_args(argv)
    info = write_service_account(args.path, token_uri=args.token_uri, project_id=args.project_id)
    print(f"wrote {args.path} (project_id={info['project_id']}, client_email={info['client_email']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
