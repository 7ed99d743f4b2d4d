"""One statement sent to PostgreSQL with something else done right behind it, before its answer.

A consumer that marks a row and then hands a message to a provider with no idempotency (FCM)
has a window between the mark's commit and the hand-over: a worker killed inside it leaves a
row marked whose message never left. Awaiting the commit before writing puts a database round
trip and the woken thread's wait for a CPU and the GIL into that window. :func:`execute_then`
sends the statement (autocommit: it commits on its own, whether or not anyone reads the
answer), runs ``then`` at once, and only then reads the answer, so the window shrinks to the
few instructions between two system calls.

Only for a connection outside a transaction (autocommit), in text format; the answer is read
with libpq's own calls, so the psycopg connection is left as it was found.
"""

from __future__ import annotations

import select
import time
from collections.abc import Callable, Sequence

import psycopg
from psycopg import pq

ANSWER_TIMEOUT_SECONDS = 30.0


class StatementNotSent(Exception):
    """The statement could not be sent (the connection is broken): ``then`` did not run."""


class AnswerLost(Exception):
    """``then`` ran, but the statement's answer could not be read (or was an error)."""


def execute_then(
    conn: psycopg.Connection,
    sql: str,
    params: Sequence[str | None],
    then: Callable[[], None],
    *,
    answer_timeout: float = ANSWER_TIMEOUT_SECONDS,
) -> int:
    """Send ``sql`` (``$1``... placeholders, text parameters), call ``then()``, then read the
    statement's answer: the number of rows it returned (or affected, for a statement without
    RETURNING). Raises StatementNotSent before ``then`` runs, AnswerLost after."""
    if conn.pgconn.transaction_status != pq.TransactionStatus.IDLE:
        raise StatementNotSent("execute_then needs a connection outside a transaction")
    pgconn = conn.pgconn
    values = [value.encode() if value is not None else None for value in params]
    try:
        pgconn.send_query_params(sql.encode(), values)
        while pgconn.flush():  # what the socket's buffer could not take at once
            select.select([], [pgconn.socket], [], answer_timeout)
    except psycopg.Error as exc:
        raise StatementNotSent(str(exc)) from exc
    then()
    try:
        return _answer(pgconn, answer_timeout)
    except psycopg.Error as exc:
        raise AnswerLost(str(exc)) from exc


def _answer(pgconn, timeout: float) -> int:
    deadline = time.monotonic() + timeout
    pgconn.consume_input()
    while pgconn.is_busy():
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not select.select([pgconn.socket], [], [], remaining)[0]:
            raise AnswerLost(f"no answer within {timeout:g}s")
        pgconn.consume_input()
    rows, error = 0, None
    while (result := pgconn.get_result()) is not None:
        if result.status == pq.ExecStatus.TUPLES_OK:
            rows += result.ntuples
        elif result.status == pq.ExecStatus.COMMAND_OK:
            rows += int(result.command_tuples or 0)
        else:
            error = (result.error_message or b"").decode("utf-8", "replace") or f"status {result.status!r}"
    if error is not None:
        raise AnswerLost(error)
    return rows
