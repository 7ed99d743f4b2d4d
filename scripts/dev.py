"""``make dev``: run the whole suite in the foreground with prefixed logs (honcho + Procfile).

Prints where everything is; Ctrl-C stops every process.
"""

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
URLS = [
    ("api gateway", 8000),
    ("user service", 8001),
    ("template service", 8002),
    ("email service", 8003),
    ("push service", 8004),
    ("admin service", 8005),
]


def main() -> None:
    print("Starting the notification platform (Ctrl-C stops everything):")
    for name, port in URLS:
        print(f"  {name:<17} http://127.0.0.1:{port}/api/v1/health/   docs: http://127.0.0.1:{port}/api/docs/")
    print("  RabbitMQ          amqp://127.0.0.1:5672/notifications")
    sys.stdout.flush()
    os.chdir(ROOT)
    honcho = ROOT / ".venv" / "bin" / "honcho"
    os.execv(str(honcho), [str(honcho), "start", "-f", "Procfile"])


if __name__ == "__main__":
    main()
