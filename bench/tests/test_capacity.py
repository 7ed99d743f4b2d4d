"""The capacity bench's arithmetic, without a platform: records to items, a step's figures,
when a step falls behind, CPU deltas, the Procfile layout and the Markdown table.

    .venv/bin/python -m pytest -q bench/tests
"""

import sys
from argparse import Namespace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import capacity  # noqa: E402

JUDGE = Namespace(keep_up=0.95, max_e2e_p99=5)


def steady(rate=50, seconds=10, gateway=0.02, e2e=0.5, start=1000.0):
    items = []
    for seq in range(int(rate * seconds)):
        due = start + seq / rate
        item = capacity.Item(seq, 0, due, due + gateway, 202, True, False)
        item.arrivals = [due + e2e + (seq % 7) * 0.01]
        items.append(item)
    return items


def test_a_single_request_record_is_one_item():
    records = [{"seq": 7, "n": 1, "due": 1.0, "answered": 1.1, "status": 202, "id": "x"}]
    [item] = capacity.items_of(records, step=0)
    assert (item.seq, item.accepted, item.status) == (7, True, 202)


def test_a_bulk_record_is_one_item_each_with_its_own_outcome():
    records = [
        {
            "seq": 10,
            "n": 3,
            "due": 1.0,
            "answered": 1.5,
            "status": 202,
            "items": [{"i": 0, "o": "accepted"}, {"i": 1, "o": "rejected", "s": 422}, {"i": 2, "o": "accepted"}],
        }
    ]
    items = capacity.items_of(records, step=0)
    assert [(i.seq, i.accepted, i.status) for i in items] == [(10, True, 202), (11, False, 422), (12, True, 202)]


def test_refusals_and_timeouts_are_not_accepted():
    records = [
        {"seq": 0, "n": 1, "due": 1.0, "answered": 1.0, "status": 503, "retry_after": "1"},
        {"seq": 1, "n": 1, "due": 1.0, "answered": 31.0, "status": -1, "timeout": True},
    ]
    figures = capacity.step_figures(2, 1, capacity.items_of(records, step=0))
    assert figures["accepted"] == 0
    assert figures["refused_503"] == 1 and figures["refusals_with_retry_after"] == 1
    assert figures["client_timeouts"] == 1


def test_a_step_that_keeps_up_scores_the_offered_rate_whatever_its_steady_latency():
    figures = capacity.step_figures(50, 10, steady(e2e=2.0))
    assert figures["accepted_per_second"] >= 49 and figures["delivered_per_second"] >= 48
    assert figures["lost"] == figures["duplicated"] == 0
    assert capacity.behind(figures, JUDGE) == []


def test_a_step_that_delivers_at_half_the_rate_is_behind():
    items = steady()
    for k, item in enumerate(items):
        item.arrivals = [1000 + k / 25]
    figures = capacity.step_figures(50, 10, items)
    assert figures["delivered_per_second"] < 30
    assert any("delivered/s" in reason for reason in capacity.behind(figures, JUDGE))


def test_lost_and_duplicated_are_counted_and_behind():
    items = steady()
    items[0].arrivals = []
    items[1].arrivals.append(items[1].arrivals[0] + 1)
    figures = capacity.step_figures(50, 10, items)
    assert (figures["lost"], figures["duplicated"]) == (1, 1)
    assert capacity.behind(figures, JUDGE)


def test_cpu_used_counts_differences_and_new_processes_but_not_a_reused_pid_as_negative():
    before = {(1, 100): ("gateway (workers)", 5.0), (2, 100): ("RabbitMQ server (shared)", 9.0)}
    after = {(1, 100): ("gateway (workers)", 6.5), (2, 200): ("RabbitMQ server (shared)", 0.5)}
    assert capacity.cpu_used(before, after) == {"gateway (workers)": 1.5, "RabbitMQ server (shared)": 0.5}


def test_procfile_layout_resolves_defaults_and_nice(tmp_path, monkeypatch):
    procfile = tmp_path / "Procfile"
    procfile.write_text(
        "gateway: cd x && GUNICORN_WORKERS=${GATEWAY_WORKERS:-3} GUNICORN_THREADS=4 exec gunicorn\n"
        "email_consumer: cd y && exec nice -n 10 python manage.py consume_emails\n"
        "unknown: exec something\n"
    )
    monkeypatch.delenv("GATEWAY_WORKERS", raising=False)
    layout = capacity.procfile_layout(procfile)
    assert layout["gateway"] == {"env": {"GUNICORN_WORKERS": "3", "GUNICORN_THREADS": "4"}, "nice": 0}
    assert layout["email-worker"] == {"env": {}, "nice": 10}
    monkeypatch.setenv("GATEWAY_WORKERS", "5")
    assert capacity.procfile_layout(procfile)["gateway"]["env"]["GUNICORN_WORKERS"] == "5"


def test_markdown_has_a_row_per_step_and_a_cpu_row_per_process():
    figures = capacity.step_figures(50, 10, steady())
    figures.update(
        behind=[],
        cpu_ms_per_notification={"gateway (workers)": 5.0, "load generator": 0.3},
        cpu_ms_per_notification_total=5.3,
        machine_cpu_ms_per_notification=9.1,
        load_average_1min=0.5,
    )
    result = {
        "title": "Capacity curve",
        "finished_at": "2026-12-01T00:00:00+00:00",
        "command": "bench/capacity.py",
        "host": {"cpus": 2},
        "load_generator": "Go",
        "users": 10000,
        "layout": "make dev",
        "steps": [figures],
        "capacity_per_second": 50,
        "max_delivered_per_second": 50,
    }
    text = capacity.markdown(result)
    assert "| 50 | 50.0 |" in text
    assert "| gateway (workers) | 5.0 |" in text and "| whole machine | 9.1 |" in text
