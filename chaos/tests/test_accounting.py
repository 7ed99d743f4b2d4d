"""The books the chaos suite keeps: lost, duplicated, dead letters and 5xx, by notification id."""

from collections import Counter

from accounting import access_log_errors, group_server_errors, reconcile
from load import Sent


def _sent(seq: int, channel: str, nid: str | None, status: int = 202, errors=()) -> Sent:
    item = Sent(seq=seq, channel=channel, user=0, due=1000.0 + seq, request_id=f"r-{seq}")
    item.attempts.append((1000.0 + seq, status))
    item.notification_id = nid
    item.server_errors.extend(errors)
    return item


def test_lost_duplicated_and_unexpected_are_counted_by_id_and_channel():
    sent = [
        _sent(0, "email", "e-ok"),
        _sent(1, "email", "e-twice"),
        _sent(2, "push", "p-lost"),
        _sent(3, "push", "p-ok"),
        _sent(4, "email", None, status=503),  # never accepted: not expected anywhere
    ]
    got = {
        "email": Counter({"e-ok": 1, "e-twice": 2, "p-ok": 1}),  # p-ok by email is not the push
        "push": Counter({"p-ok": 1, "stranger": 1}),
    }

    result = reconcile(sent, got, letters=[])

    assert result["accepted"] == 4 and result["not_accepted_by_final_status"] == {"503": 1}
    assert result["lost"] == 1 and result["lost_ids"][0]["notification_id"] == "p-lost"
    assert result["duplicated_ids"] == [{"notification_id": "e-twice", "channel": "email", "copies": 2}]
    assert result["unexpected_deliveries"] == ["p-ok", "stranger"]
    assert result["delivered"] == 3


def test_only_exhausted_budgets_count_as_transient_dead_letters():
    sent = [_sent(0, "email", "e-1"), _sent(1, "push", "p-1")]
    letters = [
        {"notification_id": "e-1", "channel": "email", "failure_kind": "exhausted", "reason": "max_attempts: 451"},
        {"notification_id": "p-1", "channel": "push", "failure_kind": "permanent", "reason": "UNREGISTERED"},
    ]

    result = reconcile(sent, {"email": Counter(), "push": Counter({"p-1": 1})}, letters)

    assert result["dead_letters"] == 2 and result["dead_letters_transient"] == 1
    assert result["lost_ids"][0]["dead_letters"][0]["reason"] == "max_attempts: 451"
    assert result["dead_letters_by_kind"] == {"exhausted": 1, "permanent": 1}


def test_5xx_from_access_logs_are_grouped_with_their_cause_and_fault(tmp_path):
    (tmp_path / "gateway.log").write_text(
        '127.0.0.1 - - [01/Dec/2026:15:00:10 +0000] "POST /api/v1/notifications/ HTTP/1.1" 500 110 "-" "-"\n'
        '127.0.0.1 - - [01/Dec/2026:15:00:11 +0000] "GET /api/v1/health/ HTTP/1.1" 503 90 "-" "-"\n'
        '{"time": "2026-12-01T15:00:10.500+00:00", "level": "ERROR", "logger": "django.request", '
        '"message": "Internal Server Error: /api/v1/notifications/", "exc_info": "Traceback (most recent call '
        'last):\\n  File \\"x.py\\", line 1\\ndjango.db.utils.OperationalError: connection refused\\nLINE 1: x"}\n'
    )
    logs = access_log_errors(tmp_path, ["gateway", "users"])
    assert logs["requests_by_status"] == {"gateway": {500: 1, 503: 1}}  # 503 is an allowed answer

    started = 1796137200.0  # 2026-12-01T15:00:00Z
    faults = [{"fault": "PostgreSQL restarted", "started_at": 9.5}]
    sent = [_sent(0, "email", None, status=500, errors=[{"at": started + 10.2, "status": 500, "body": "{}"}])]
    groups = group_server_errors(sent, [], logs, started, faults)

    by_source = {g["source"]: g for g in groups}
    assert set(by_source) == {"load", "access log", "service log"}
    assert by_source["service log"]["cause"] == "django.db.utils.OperationalError: connection refused"
    assert by_source["access log"]["first_s"] == 10.0
    assert all(g["after_fault"] == "PostgreSQL restarted" for g in groups)
