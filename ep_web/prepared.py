"""Prepared statements on PostgreSQL, for the few statements every request
sends whose plan does not depend on the values bound (the user's session,
the structure's caisses and techniciens).

Parsing and planning those cost the server more than running them: the
session's statement (user_session, account, structure or caisse, the
versions, the bell's count) costs PostgreSQL 0.6 ms of CPU a request when
planned each time, 0.05 ms prepared (its generic plan, which PostgreSQL
keeps after five runs: the same index lookups whatever the token). The lists
are never prepared: their plans depend on the structure's or the caisse's
size, and a generic plan cannot use a partial index of one status
(create_app keeps psycopg from preparing anything by itself).

psycopg drops every prepared statement of a connection at each ROLLBACK, and
a request that only read ends with one (the session closed at teardown). A
transaction that sent only SELECTs therefore ends with COMMIT instead — the
same round trip and, nothing having been written, the same outcome — so the
statements stay prepared from one request to the next. Any other statement
(INSERT, UPDATE, DELETE, a SAVEPOINT, a text that is not a SELECT) and the
transaction rolls back as before.
"""
import re

from sqlalchemy import event

PREPARED = "ep_prepared"  # the execution option that asks for it
# psycopg's prepare_threshold: a statement is prepared after this many runs
# (None would refuse even those asked for): never, but those asked for.
ONLY_MARKED = 2**62
_ONLY_READS = "ep_only_reads"  # on the connection's info: this transaction sent only SELECTs
# A SELECT that could change something a COMMIT would keep (a data-modifying
# CTE, SELECT INTO, a row lock, a sequence): rolled back as before.
_MAY_WRITE = re.compile(r"\b(?:insert|update|delete|merge|into|nextval|setval|notify)\b", re.IGNORECASE)


def prepared(statement):
    """``statement`` marked to be prepared on PostgreSQL (ignored elsewhere):
    only for a statement whose best plan is the same whatever its values."""
    return statement.execution_options(**{PREPARED: True})


def only_reads(statement: str) -> bool:
    """A statement that reads and writes nothing: a SELECT (or WITH … SELECT)
    naming no writing keyword or function."""
    head = statement.lstrip()[:6].upper()
    return head.startswith(("SELECT", "WITH")) and not _MAY_WRITE.search(statement)


def register(engine) -> None:
    """Prepare the statements marked ``prepared`` on ``engine`` (PostgreSQL),
    and end its read-only transactions with COMMIT so they stay prepared."""

    @event.listens_for(engine, "do_execute")
    def _execute(cursor, statement, parameters, context):
        if context.execution_options.get(PREPARED):
            cursor.execute(statement, parameters, prepare=True)
            return True
        return False

    @event.listens_for(engine, "begin")
    def _began(conn):
        conn.info[_ONLY_READS] = True

    @event.listens_for(engine, "before_cursor_execute")
    def _sent(conn, cursor, statement, parameters, context, executemany):
        if conn.info.get(_ONLY_READS) and (executemany or not only_reads(statement)):
            conn.info[_ONLY_READS] = False

    @event.listens_for(engine, "rollback")
    def _ending(conn):
        if not conn.info.pop(_ONLY_READS, False) or conn.invalidated or conn.closed:
            return
        from psycopg.pq import TransactionStatus

        raw = conn.connection.driver_connection
        if raw.info.transaction_status == TransactionStatus.INTRANS:
            try:
                raw.commit()  # nothing was written: the outcome of a ROLLBACK, the statements kept
            except Exception:  # noqa: BLE001 - the ROLLBACK that follows reports the connection's state
                pass
