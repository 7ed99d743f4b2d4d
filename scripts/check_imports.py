"""The architecture contracts in ``.importlinter`` (``make check``).

Runs import-linter with every service's directory and the shared library on the path, so
the contracts see the real packages: services never import each other, the library imports
no service, runtime code never imports notification_devtools (loopback servers, test helpers).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SERVICE_DIRS = [
    "notification_common",
    "notification_devtools",
    "api_gateway_service",
    "user_service",
    "template_service",
    "email_service",
    "push_service",
    "admin_service",
]


def run(*, extra_path: list[str] | None = None) -> subprocess.CompletedProcess:
    """lint-imports on the repository (``extra_path`` goes first: tests use it to shadow a package)."""
    path = [*(extra_path or []), *(str(ROOT / d) for d in SERVICE_DIRS)]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(path)}
    lint_imports = Path(sys.executable).with_name("lint-imports")
    return subprocess.run(
        [str(lint_imports), "--no-cache", str(ROOT / ".importlinter")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def main() -> int:
    result = run()
    output = result.stdout + result.stderr
    contracts = [line for line in output.splitlines() if line.endswith((" KEPT", " BROKEN")) or "KEPT (" in line]
    print("\n".join(contracts) if result.returncode == 0 else output)
    print("import contracts: ok" if result.returncode == 0 else "import contracts: BROKEN")
    return result.returncode


if __name__ == "__main__":
    sys.exit(main())
