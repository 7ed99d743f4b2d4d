"""``make dev``: run the whole suite in the foreground with prefixed logs (honcho + ``Procfile``).

Uses the loopback SMTP and FCM servers unless real ones are configured (``SMTP_HOST`` other
than 127.0.0.1, or ``FCM_ENDPOINT`` set): then those processes are left out. Prints where
everything is; Ctrl-C stops every process.
"""

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# The services default to production and refuse the dev defaults there (docs/operations.md).
os.environ.setdefault("ENVIRONMENT", "development")
sys.path.insert(0, str(ROOT / "notification_common"))

URLS = [
    ("api gateway", 8000),
    ("user service", 8001),
    ("template service", 8002),
    ("email service", 8003),
    ("push service", 8004),
    ("admin service", 8005),
]
LOOPBACK_FCM_PORT = 9099
SERVICE_ACCOUNT = ROOT / "var" / "fcm" / "service-account.json"


def _read_dotenv() -> dict:
    path = ROOT / ".env"
    values = {}
    if path.exists():
        for line in path.read_text().splitlines():
            line = line.strip()
            if line and not line.startswith("#") and "=" in line:
                key, _, value = line.partition("=")
                values[key.strip()] = value.strip()
    return values


def main() -> None:
    configured = {**_read_dotenv(), **os.environ}
    real_smtp = configured.get("SMTP_HOST", "127.0.0.1") not in ("", "127.0.0.1", "localhost")
    real_fcm = bool(configured.get("FCM_ENDPOINT"))
    skip = set()
    if real_smtp:
        skip.add("smtp")
    if real_fcm:
        skip.add("fcm")
    else:
        # The loopback FCM server verifies tokens signed with this local service account.
        from notification_common.loopback.service_account import write_service_account

        if not SERVICE_ACCOUNT.exists():
            SERVICE_ACCOUNT.parent.mkdir(parents=True, exist_ok=True)
            write_service_account(str(SERVICE_ACCOUNT), token_uri=f"http://127.0.0.1:{LOOPBACK_FCM_PORT}/token")
        os.environ["FCM_ENDPOINT"] = f"http://127.0.0.1:{LOOPBACK_FCM_PORT}"
        os.environ.setdefault("FIREBASE_SERVICE_ACCOUNT_PATH", str(SERVICE_ACCOUNT))

    lines = [
        line
        for line in (ROOT / "Procfile").read_text().splitlines()
        if line.strip() and line.split(":", 1)[0] not in skip
    ]
    procfile = ROOT / "var" / "Procfile.dev"
    procfile.parent.mkdir(parents=True, exist_ok=True)
    procfile.write_text("\n".join(lines) + "\n")

    print("Starting the notification platform (Ctrl-C stops everything):")
    for name, port in URLS:
        print(f"  {name:<17} http://127.0.0.1:{port}/api/v1/health/   docs: http://127.0.0.1:{port}/api/docs/")
    print("  admin site        http://127.0.0.1:8005/admin/  (create an admin: make createadmin)")
    print("  RabbitMQ          amqp://127.0.0.1:5672/notifications")
    if not real_smtp:
        print("  loopback SMTP     127.0.0.1:1025, received mail: http://127.0.0.1:8025/messages")
    if not real_fcm:
        print(f"  loopback FCM      http://127.0.0.1:{LOOPBACK_FCM_PORT}/_loopback/messages")
    sys.stdout.flush()
    os.chdir(ROOT)
    honcho = ROOT / ".venv" / "bin" / "honcho"
    os.execv(str(honcho), [str(honcho), "start", "-f", str(procfile), "-d", str(ROOT)])


if __name__ == "__main__":
    main()
