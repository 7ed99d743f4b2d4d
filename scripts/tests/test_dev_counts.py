"""``make dev`` counts (scripts/dev.py) start N copies of a worker through honcho, and the
compose workers carry nothing that stops ``docker compose up --scale`` (issue 17)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import dev
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_WORKERS = ("email-worker", "push-worker", "outbox-relay", "dead-letter-consumer")


def _procfile_names() -> set[str]:
    return {line.split(":", 1)[0] for line in (ROOT / "Procfile").read_text().splitlines() if line.strip()}


def test_each_count_names_a_process_of_the_procfile():
    assert set(dev.WORKER_COUNTS.values()) <= _procfile_names()


def test_counts_are_read_from_the_environment_and_unset_ones_left_alone():
    counts = dev.worker_counts({"EMAIL_CONSUMERS": "2", "RELAYS": "0", "PUSH_CONSUMERS": " "})
    assert counts == {"email_consumer": 2, "relay": 0}


@pytest.mark.parametrize("raw", ["two", "-1", "1.5"])
def test_a_count_that_is_not_a_whole_number_stops_make_dev_naming_it(raw):
    with pytest.raises(SystemExit, match=f"EMAIL_CONSUMERS must be a whole number >= 0, got '{raw}'"):
        dev.worker_counts({"EMAIL_CONSUMERS": raw})


def test_honcho_is_asked_for_the_copies(tmp_path):
    command = dev.honcho_command(tmp_path / "Procfile", {"email_consumer": 2, "push_consumer": 3})
    assert command[-2:] == ["-c", "email_consumer=2,push_consumer=3"]
    assert "-c" not in dev.honcho_command(tmp_path / "Procfile", {})


def test_honcho_starts_that_many_copies_and_the_gateway_line_reads_gateway_workers(tmp_path):
    # given a Procfile with the real gateway line's worker setting, echoed instead of run
    gateway = next(line for line in (ROOT / "Procfile").read_text().splitlines() if line.startswith("gateway:"))
    workers = gateway.split("GUNICORN_WORKERS=", 1)[1].split()[0]
    procfile = tmp_path / "Procfile"
    procfile.write_text(f"email_consumer: echo consumer-up\ngateway: echo gateway-workers={workers}\n")

    # when honcho runs it as make dev would, with EMAIL_CONSUMERS=2 and GATEWAY_WORKERS=5
    command = [sys.executable, "-m", "honcho", *dev.honcho_command(procfile, {"email_consumer": 2})[1:]]
    result = subprocess.run(
        command,
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "GATEWAY_WORKERS": "5"},
        capture_output=True,
        text=True,
        timeout=60,
        # honcho signals process groups (os.killpg) when it stops its children: its own session
        # keeps any such signal away from pytest and the make that runs it.
        start_new_session=True,
    )

    # then two consumers ran, and the gateway got five workers
    assert result.stdout.count("consumer-up") == 2, result.stdout + result.stderr
    assert "gateway-workers=5" in result.stdout, result.stdout + result.stderr


def test_compose_workers_can_be_scaled():
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    for name in COMPOSE_WORKERS:
        # a fixed container name or host port would make the second copy fail to start
        assert "container_name" not in services[name], name
        assert "ports" not in services[name], name
