"""Group commit for the SQLite store: the writes of three turns of the event loop share one transaction.

A `COMMIT` costs more than the statements of a write it ends: the WAL frames of every page the write
touched (the table's and each index's, down from their roots) plus the WAL index's header, and now and
then a checkpoint. Thirty writes in one transaction touch the upper pages of each tree once, not thirty
times, and pay for one `COMMIT`.

So writes made on the event loop's thread each run in a `SAVEPOINT` inside one `BEGIN IMMEDIATE`
transaction, which stays open through the loop's next two turns (`OPEN_TURNS`), so that the requests
that came in while the earlier turns ran join it too, and is committed at the start of the turn after
them. Committed at the start of the first turn after its own, as it was until the eighteenth round of
bench/ROUNDS.md, a batch of updates at 32 connections held about 11 of them; open for three turns, about
30, and the server made 1-3% more updates a second at 32 connections and 4-10% more at 128. A write
that fails rolls back to its savepoint and leaves the others alone, so each request is as atomic as with
a transaction of its own, and the requests of a batch run one after the other, each seeing the last
one's writes, as they would have one transaction at a time.

A write that changes the file with one statement at most (an update, a create: reads, then one `UPDATE`
or `INSERT`) needs no savepoint: SQLite undoes a statement that fails by itself, and the transaction goes
on. Opening and releasing one cost about 6% of an update's time on the loop (bench/ROUNDS.md, twelfth
round). Should such a write fail after its statement has changed rows, nothing can undo it alone, so the
whole batch is rolled back and answered 500, as when its COMMIT fails. The connection's count of changed
rows tells; it also counts the rows a trigger wrote before its statement failed, so such a failure costs
the batch too (more than needed, never less; localviyo's schema has no triggers).

Nobody is answered before the commit: whoever did work on the loop while a batch was open awaits it
first (the store's `pending_commit()`). That includes reads, which may have seen the batch's writes.
When the `COMMIT` fails, nothing of the batch is stored and each of them is answered with a 500. The
batch holds the store's lock from `BEGIN` to `COMMIT`, so another thread never sees it half done: it
waits for the commit.

Reads of a turn share a transaction too. Outside one, each `SELECT` is a read transaction of its own:
SQLite takes a read lock on the WAL and checks the WAL index before it and lets go after it, which cost
about a third of a lookup by id on the benchmark machine (bench/ROUNDS.md, fourteenth round). So the
first read of a turn with no batch open begins a (deferred) transaction, and a callback it queues ends it
at the start of the next turn; a write of the same turn ends it first and opens its batch, and the
reads after that write run in the batch, as before, as do those of the next turns while it is open.
Every request of a turn was received before the turn began (each runs in a task that the network
queued behind that callback's predecessors; the store's key memory relies on the same order), so the
snapshot, taken at the turn's first `SELECT`, holds everything committed before any of them was sent:
another connection's commit during the turn may be missed only by requests that were already waiting
when it came. Like a batch, the read transaction holds the store's lock until it ends, so another thread
waits for the end of the turn.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import threading
from collections.abc import Callable

log = logging.getLogger("localviyo")

# The turns of the event loop a batch stays open for, the one it began in included: the requests of the
# later turns came in while the earlier ones ran (bench/ROUNDS.md, eighteenth round).
OPEN_TURNS = 3


class CommitFailed(Exception):
    """The batch a request's work belonged to was not stored."""


class GroupCommit:
    def __init__(
        self,
        db: sqlite3.Connection,
        lock: threading.RLock,
        loop: asyncio.AbstractEventLoop,
        committed: Callable[[], None] | None = None,
        held: Callable[[], bool] | None = None,
    ) -> None:
        self.db, self.lock, self.loop = db, lock, loop
        self.committed = committed  # told of each batch stored, while the lock is still held
        # True while the app holds writes back (a WAL drain): no write would join an open batch, which
        # then commits at the start of the next turn.
        self.held = held
        self.open: asyncio.Future[None] | None = None  # the batch in progress, done when it is committed
        self.reading: object | None = None  # the turn's read transaction, while one is open (see read)
        self._reader = _TurnRead(self)  # holds no state of its own: one serves every read

    def write(self, *, one_statement: bool = False) -> _Savepoint:
        return _Savepoint(self, one_statement)

    def read(self) -> _TurnRead:
        return self._reader

    def _begin_read(self) -> None:
        self.end_reads()  # one SQLite ended by itself (a failed statement may roll back): let go of it
        self.lock.acquire()  # held by the read transaction until it ends
        try:
            self.db.execute("BEGIN")
        except BaseException:
            self.lock.release()
            raise
        token = self.reading = object()
        self.loop.call_soon(self._end_read, token)

    def end_reads(self) -> None:
        """End the turn's read transaction now, if one is open: a write batch begins, or the server stops."""
        if self.reading is not None:
            self._end_read(self.reading)

    def _end_read(self, token: object) -> None:
        if token is not self.reading:
            return  # ended already: by a write of its turn, or by end_reads
        self.reading = None
        try:
            if self.db.in_transaction:
                self.db.execute("COMMIT")
        finally:
            self.lock.release()

    def _begin(self) -> None:
        self.lock.acquire()  # held by the batch itself until it ends
        try:
            self.end_reads()  # the reads of this turn so far had their snapshot; writes need the newest
            self.db.execute("BEGIN IMMEDIATE")
        except BaseException:
            self.lock.release()
            raise
        batch = self.open = self.loop.create_future()
        self.loop.call_soon(self._turn_began, batch, OPEN_TURNS - 1)

    def _turn_began(self, batch: asyncio.Future[None], turns_left: int) -> None:
        """A turn began while `batch` was open: it commits now if its turns are over, else stays open."""
        if turns_left <= 0 or (self.held is not None and self.held()):
            self.commit(batch)
        elif batch is self.open:
            self.loop.call_soon(self._turn_began, batch, turns_left - 1)

    def commit(self, batch: asyncio.Future[None]) -> None:
        """Store the writes of `batch`, if it is still the open one (it may have been rolled back)."""
        if batch is not self.open:
            return
        try:
            self.db.execute("COMMIT")
        except Exception as error:
            self._abort(error)
        else:
            self.open = None
            try:
                if self.committed is not None:
                    self.committed()
            finally:
                self.lock.release()
            batch.set_result(None)

    def _abort(self, error: BaseException) -> None:
        """Roll the whole batch back and fail everyone who waits on it."""
        batch, self.open = self.open, None
        if batch is None:
            return
        log.error("a group commit failed; every request of its batch is answered 500: %s", error)
        try:
            if self.db.in_transaction:
                self.db.execute("ROLLBACK")
        finally:
            self.lock.release()
            batch.set_exception(CommitFailed(str(error)))
            batch.exception()  # retrieved here: a batch nobody waited on is not an error to report


class _Savepoint:
    """`with group.write() as db`: one write, atomic within the open batch (opened if there is none).

    With `one_statement`, no savepoint is opened; the count of changed rows at the start tells whether
    the write's statement was made when it fails."""

    __slots__ = ("_changes", "_group", "_one_statement")

    def __init__(self, group: GroupCommit, one_statement: bool) -> None:
        self._group, self._one_statement, self._changes = group, one_statement, 0

    def __enter__(self) -> sqlite3.Connection:
        group = self._group
        group.lock.acquire()
        try:
            if group.open is None:
                group._begin()
            if self._one_statement:
                self._changes = group.db.total_changes
            else:
                group.db.execute("SAVEPOINT write")
        except BaseException:
            group.lock.release()
            raise
        return group.db

    def __exit__(self, kind: type[BaseException] | None, *exc: object) -> None:
        group = self._group
        db = group.db
        answer = kind is None  # a block that failed raises its own error, unless it hides a loss (below)
        try:
            if db.in_transaction:
                if self._one_statement:
                    if kind is None or db.total_changes == self._changes:
                        return  # done, or failed before changing anything (or in a statement SQLite undid)
                    # It broke its promise of one statement: a fault of ours, answered 500 like its batch.
                    lost: BaseException = CommitFailed("a write failed after its statement changed rows")
                    answer = True
                else:
                    try:
                        if kind is not None:
                            db.execute("ROLLBACK TO write")
                        db.execute("RELEASE write")
                        return
                    except BaseException as error:
                        lost = error
            else:
                # SQLite rolled the whole transaction back itself (a full disk, an I/O error, a trigger's
                # RAISE(ROLLBACK)): the writes of the batch before this one are gone, and this one's too.
                lost = CommitFailed("SQLite rolled the transaction back")
            group._abort(lost)
            if answer:
                raise lost
        finally:
            group.lock.release()


class _TurnRead:
    """`with group.read() as db`: a read, in the transaction of its turn (opened if there is none)."""

    __slots__ = ("_group",)

    def __init__(self, group: GroupCommit) -> None:
        self._group = group

    def __enter__(self) -> sqlite3.Connection:
        group = self._group
        group.lock.acquire()
        try:
            if not group.db.in_transaction:
                group._begin_read()
        except BaseException:
            group.lock.release()
            raise
        return group.db

    def __exit__(self, kind: type[BaseException] | None, *exc: object) -> None:
        self._group.lock.release()
