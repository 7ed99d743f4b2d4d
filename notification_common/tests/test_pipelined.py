"""execute_then: a statement sent to the real PostgreSQL, something done right behind it before
its answer, and the answer read after. The statement commits on its own: a process killed
inside ``then`` still leaves it committed (the kernel sends what the socket holds when the
process dies)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import uuid

import psycopg
import pytest
from django.db import connection

from notification_common.pipelined import AnswerLost, StatementNotSent, execute_then
from notification_devtools.testing.waiting import wait_until

pytestmark = pytest.mark.django_db(transaction=True)


def _conninfo() -> str:
    db = connection.settings_dict
    return psycopg.conninfo.make_conninfo(
        host=db["HOST"], port=db["PORT"] or None, dbname=db["NAME"], user=db["USER"], password=db["PASSWORD"] or None
    )


@pytest.fixture
def table():
    name = f"pipelined_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(_conninfo(), autocommit=True) as admin:
        admin.execute(f"CREATE TABLE {name} (id text PRIMARY KEY)")
        yield name
        admin.execute(f"DROP TABLE {name}")


@pytest.fixture
def conn():
    with psycopg.connect(_conninfo(), autocommit=True) as pipelined:
        yield pipelined


def _rows(table: str) -> set[str]:
    with psycopg.connect(_conninfo(), autocommit=True) as other:
        return {row[0] for row in other.execute(f"SELECT id FROM {table}")}


def test_then_runs_once_the_statement_is_sent_and_the_row_is_committed(conn, table):
    calls = []

    rows = execute_then(conn, f"INSERT INTO {table} (id) VALUES ($1) RETURNING id", ["a"], lambda: calls.append(1))

    assert (calls, rows) == ([1], 1)
    assert _rows(table) == {"a"}


def test_a_then_that_raises_still_lets_the_statement_commit_and_the_connection_work(conn, table):
    def then():
        raise ConnectionResetError("the provider hung up")

    with pytest.raises(ConnectionResetError):
        execute_then(conn, f"INSERT INTO {table} (id) VALUES ($1)", ["a"], then)

    assert _rows(table) == {"a"}
    assert conn.execute("SELECT 1").fetchone() == (1,)


def test_rows_are_counted_with_or_without_returning(conn, table):
    assert execute_then(conn, f"INSERT INTO {table} (id) VALUES ('a'), ('b')", [], lambda: None) == 2
    assert execute_then(conn, f"SELECT id FROM {table} WHERE id = ANY($1::text[])", ["{a,b,c}"], lambda: None) == 2


def test_an_error_answer_is_answer_lost_after_then_ran_and_the_connection_still_works(conn, table):
    calls = []

    with pytest.raises(AnswerLost, match="duplicate key"):
        execute_then(conn, f"INSERT INTO {table} (id) VALUES ($1), ($1)", ["a"], lambda: calls.append(1))

    assert calls == [1] and _rows(table) == set()
    assert conn.execute("SELECT 1").fetchone() == (1,)


def test_inside_a_transaction_nothing_is_sent_and_then_does_not_run(conn, table):
    calls = []
    with conn.transaction():
        with pytest.raises(StatementNotSent):
            execute_then(conn, f"INSERT INTO {table} (id) VALUES ('a')", [], lambda: calls.append(1))
    assert calls == [] and _rows(table) == set()


def test_a_closed_connection_sends_nothing_and_then_does_not_run(conn, table):
    calls = []
    conn.close()

    with pytest.raises(StatementNotSent):
        execute_then(conn, f"INSERT INTO {table} (id) VALUES ('a')", [], lambda: calls.append(1))

    assert calls == [] and _rows(table) == set()


def test_a_process_killed_right_after_then_leaves_the_statement_committed(table):
    # Given a process that sends an insert and is killed -9 by its own `then`, before it can
    # read the answer
    script = textwrap.dedent(
        f"""
        import os, signal, psycopg
        from notification_common.pipelined import execute_then
        conn = psycopg.connect({_conninfo()!r}, autocommit=True)
        die = lambda: os.kill(os.getpid(), signal.SIGKILL)
        execute_then(conn, "INSERT INTO {table} (id) VALUES ($1)", ["killed"], die)
        """
    )
    process = subprocess.run([sys.executable, "-c", script], env=os.environ, timeout=30)

    # Then it died in `then`, and the row is there all the same
    assert process.returncode == -signal.SIGKILL
    assert wait_until(lambda: _rows(table) == {"killed"}, timeout=5)


@pytest.mark.skipif(not hasattr(socket, "TCP_CORK"), reason="TCP_CORK is Linux's")
def test_the_database_socket_is_corked_while_then_runs_and_uncorked_after(conn, table):
    def cork_state() -> int:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, 0, fileno=conn.pgconn.socket)
        try:
            return sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_CORK)
        finally:
            sock.detach()

    during = []
    execute_then(conn, f"INSERT INTO {table} (id) VALUES ('a')", [], lambda: during.append(cork_state()))

    assert (during, cork_state()) == ([1], 0)
