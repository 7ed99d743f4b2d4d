"""``make dev``: run the whole suite in the foreground with prefixed logs (honcho + ``Procfile``).

Uses the loopback SMTP and FCM servers unless real ones are configured (``SMTP_HOST`` other
than 127.0.0.1, or ``FCM_ENDPOINT`` set): then those processes are left out. Prints where
everything is; Ctrl-C stops every process.

Counts (environment or ``.env``): ``EMAIL_CONSUMERS``, ``PUSH_CONSUMERS``, ``RELAYS`` and
``DEAD_LETTER_CONSUMERS`` run that many copies of the worker (honcho ``-c``; 0 leaves it out);
one each by default (docs/operations.md, "Scale consumers", says when to add more).
``GATEWAY_WORKERS`` sets the gateway's gunicorn worker processes (one port, so one gunicorn).
E.g. ``EMAIL_CONSUMERS=2 make dev`` (docs/operations.md, "Scale consumers").
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
# Count variable -> Procfile process whose copies it sets.
WORKER_COUNTS = {
    "EMAIL_CONSUMERS": "email_consumer",
    "PUSH_CONSUMERS": "push_consumer",
    "RELAYS": "relay",
    "DEAD_LETTER_CONSUMERS": "deadletters",
}
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


def _count(configured: dict, name: str, *, minimum: int) -> int | None:
    raw = str(configured.get(name, "")).strip()
    if not raw:
        return None
    if not (raw.isascii() and raw.isdigit()) or int(raw) < minimum:
        raise SystemExit(f"make dev: {name} must be a whole number >= {minimum}, got {raw!r}")
    return int(raw)


def worker_counts(configured: dict) -> dict[str, int]:
    """Copies of each worker asked for, by Procfile name (only those set)."""
    counts = {}
    for name, process in WORKER_COUNTS.items():
        count = _count(configured, name, minimum=0)
        if count is not None:
            counts[process] = count
    return counts


def honcho_command(procfile: Path, copies: dict[str, int]) -> list[str]:
    """``honcho start`` of the Procfile, with ``-c name=N`` for the workers run more than once."""
    command = [str(ROOT / ".venv" / "bin" / "honcho"), "start", "-f", str(procfile), "-d", str(ROOT)]
    if copies:
        command += ["-c", ",".join(f"{process}={count}" for process, count in copies.items())]
    return command


def main() -> None:
    configured = {**_read_dotenv(), **os.environ}
    counts = worker_counts(configured)
    gateway_workers = _count(configured, "GATEWAY_WORKERS", minimum=1)
    if gateway_workers is not None:
        os.environ["GATEWAY_WORKERS"] = str(gateway_workers)  # the Procfile's gateway line reads it
    real_smtp = configured.get("SMTP_HOST", "127.0.0.1") not in ("", "127.0.0.1", "localhost")
    real_fcm = bool(configured.get("FCM_ENDPOINT"))
    skip = {process for process, count in counts.items() if count == 0}
    if real_smtp:
        skip.add("smtp")
    if real_fcm:
        skip.add("fcm")
    else:
        # The loopback FCM server verifies tokens signed with this local service account.
        from notification_devtools.loopback.service_account import write_service_account

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
    copies = {process: count for process, count in counts.items() if count > 0}
    if copies or gateway_workers:
        described = [f"{process} x{count}" for process, count in copies.items()]
        if gateway_workers:
            described.append(f"gateway gunicorn workers x{gateway_workers}")
        print("  counts            " + ", ".join(described))
    sys.stdout.flush()
    os.chdir(ROOT)
    command = honcho_command(procfile, copies)
    os.execv(command[0], command)


if __name__ == "__main__":
    main()
