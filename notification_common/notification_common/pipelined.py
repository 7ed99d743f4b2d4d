"""One statement sent to PostgreSQL with something else done right behind it, before its answer.

A consumer that marks a row and then hands a message to a provider with no idempotency (FCM)
has a window between the mark's commit and the hand-over: a worker killed inside it leaves a
row marked whose message never left. Awaiting the commit before writing puts a database round
trip and the woken thread's wait for a CPU and the GIL into that window. :func:`execute_then`
sends the statement (autocommit: it commits on its own, whether or not anyone reads the
answer), runs ``then`` at once, and only then reads the answer, so the window shrinks to the
few instructions between two system calls.

The statement goes out in libpq's pipeline mode: ``send_query_params`` only buffers it there
(psycopg calls it with the GIL released, and taking the GIL back can wait milliseconds on a
busy machine, so that wait must come before anything is sent), and ``pipeline_sync``, which
psycopg calls with the GIL held, appends the Sync that commits it and sends both. From that
system call to the one ``then`` makes, this thread keeps the GIL. And the database's TCP
socket is corked meanwhile (Linux ``TCP_CORK``): the kernel holds the statement until ``then``
is done, so the database server, woken by it, cannot take this thread's CPU in between; a
process killed with the statement held still sends it, as the kernel flushes a socket it
closes. bench/push_kill_window.py measures what is left.

Only for a connection outside a transaction (autocommit), in text format; the answer is read
with libpq's own calls, so the psycopg connection is left as it was found.
"""

from __future__ import annotations

import select
import socket
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
    RETURNING). Raises StatementNotSent before ``then`` runs, AnswerLost after; an exception of
    ``then`` is raised once the answer is read (the statement was sent all the same)."""
    if conn.pgconn.transaction_status != pq.TransactionStatus.IDLE:
        raise StatementNotSent("execute_then needs a connection outside a transaction")
    pgconn = conn.pgconn
    values = [value.encode() if value is not None else None for value in params]
    try:
        pgconn.enter_pipeline_mode()
    except psycopg.Error as exc:
        raise StatementNotSent(str(exc)) from exc
    corked = _cork(pgconn.socket, True)
    try:
        try:
            pgconn.send_query_params(sql.encode(), values)  # buffered: nothing is sent yet
            pgconn.pipeline_sync()  # the Sync, and the one system call that sends both
            while pgconn.flush():  # what the socket's buffer could not take at once
                select.select([], [pgconn.socket], [], answer_timeout)
        except psycopg.Error as exc:
            raise StatementNotSent(str(exc)) from exc
        failed = None
        try:
            then()
        except BaseException as exc:  # raised again once the answer is read: the connection stays usable
            failed = exc
        if corked:
            corked = not _cork(pgconn.socket, False)  # the statement leaves for the server now
        try:
            rows = _answer(pgconn, answer_timeout)
        except AnswerLost:
            if failed is None:
                raise
            rows = 0  # then's own error is the one to raise
        if failed is not None:
            raise failed
        return rows
    finally:
        if corked:
            _cork(pgconn.socket, False)
        _leave_pipeline_mode(pgconn)


def _cork(fd: int, on: bool) -> bool:
    """Hold (or release) what is written to the database's TCP socket in the kernel (Linux
    ``TCP_CORK``). While held, the server is not woken by the statement, so it cannot take this
    thread's CPU between the statement and ``then``'s write; a process killed meanwhile still
    sends it (the kernel flushes a socket's queue when it closes it). False where there is no
    such option (another OS, a Unix socket): the statement then goes at once."""
    if not hasattr(socket, "TCP_CORK"):
        return False
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, 0, fileno=fd)
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_CORK, 1 if on else 0)
    except OSError:
        return False
    finally:
        sock.detach()  # the descriptor stays libpq's
    return True


def _leave_pipeline_mode(pgconn) -> None:
    try:
        pgconn.exit_pipeline_mode()
    except psycopg.Error:
        pgconn.finish()  # results left unread: the connection cannot be used as it is


def _answer(pgconn, timeout: float) -> int:
    """Read the statement's results up to the pipeline's Sync: the rows it returned."""
    try:
        return _read_results(pgconn, timeout)
    except psycopg.Error as exc:
        raise AnswerLost(str(exc)) from exc


def _read_results(pgconn, timeout: float) -> int:
    deadline = time.monotonic() + timeout
    rows, error = 0, None
    while True:
        pgconn.consume_input()
        while pgconn.is_busy():
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([pgconn.socket], [], [], remaining)[0]:
                raise AnswerLost(f"no answer within {timeout:g}s")
            pgconn.consume_input()
        result = pgconn.get_result()
        if result is None:
            continue  # the end of the statement's results; the Sync's comes next
        if result.status == pq.ExecStatus.PIPELINE_SYNC:
            break
        if result.status == pq.ExecStatus.TUPLES_OK:
            rows += result.ntuples
        elif result.status == pq.ExecStatus.COMMAND_OK:
            rows += int(result.command_tuples or 0)
        else:
            error = (result.error_message or b"").decode("utf-8", "replace") or f"status {result.status!r}"
    if error is not None:
        raise AnswerLost(error)
    return rows
