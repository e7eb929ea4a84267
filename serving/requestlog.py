"""Request and feedback logs: every served request and every rating, appended to the Delta
tables ``ops/requests`` and ``ops/feedback`` with delta-rs, off the request path.

The service fills a :class:`~serving.logrows.RequestRecord` or
:class:`~serving.logrows.FeedbackRecord` and hands it to :class:`RequestLog`, which only
puts it on a queue. One writer thread per process turns records into rows
(:mod:`serving.logrows`: API key scrubbed, PII redacted, no text when ``log_text`` is
false) and appends them in batches: once ``flush_rows`` records wait, once the oldest has
waited ``flush_seconds``, on ``flush()``, and on ``stop()``, which writes everything left
(it also runs at interpreter exit).

* delta-rs appends from the service, no spool files: rows are readable seconds after the
  request without a Spark job. Appends from several processes do not conflict; delta-rs
  retries a commit that lost the race for a version (on S3 with its conditional writes).
* Appends merge the schema: a table written before a column was added (``ops/requests``
  before ``response``) gains it, nullable, at the first append, and its old rows read it as
  null. Only that append carries the schema change; later ones are plain appends.
* Both tables are partitioned by ``date`` (UTC day of ``ts``), so a scan of recent days
  stays small as they grow. Small appends make small files: compact them from a periodic
  job (``DeltaTable(uri).optimize.compact()`` or Spark's ``OPTIMIZE``).
* A failed append (disk full, storage down) is logged, keeps its rows and is retried,
  backing off up to a minute; it never reaches request handling. Each append carries a
  Delta app transaction (this log's id, a batch number), so the retry of an append that
  committed but reported an error does not write its rows twice. At most ``max_backlog``
  records wait per table: past that the oldest are dropped, and every drop is logged.
* ``knows(request_id)`` answers from the ids recorded recently (an LRU), then from the
  table, so feedback on a request served before a restart is accepted. The table look-up
  is I/O; a storage error there raises rather than answer "unknown".

Example::

    >>> import shutil, tempfile
    >>> from deltalake import DeltaTable
    >>> lake = tempfile.mkdtemp()
    >>> with RequestLog(f"{lake}/requests", f"{lake}/feedback") as requests:
    ...     requests.record_request(RequestRecord("r1", "generate", "run-7@3f2a9c1d", 9, 20,
    ...                                           41.5, prompt="mail jo@example.com"))
    ...     requests.record_feedback(FeedbackRecord("r1", rating=1))
    >>> row = DeltaTable(f"{lake}/requests").to_pyarrow_dataset().to_table().to_pylist()[0]
    >>> row["request_id"], row["prompt"], row["pii_redactions"]
    ('r1', 'mail <EMAIL>', 1)
    >>> RequestLog(f"{lake}/requests", f"{lake}/feedback").knows("r1")
    True
    >>> shutil.rmtree(lake)
"""

from __future__ import annotations

import atexit
import logging
import os
import queue
import threading
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from llmlake.lake import Lake
from serving.logrows import (
    FEEDBACK_SCHEMA,
    REQUESTS_SCHEMA,
    FeedbackRecord,
    RequestRecord,
    api_key_from_env,
    feedback_row,
    request_row,
)

if TYPE_CHECKING:
    from llmlake.config import Params

__all__ = ["FEEDBACK_SCHEMA", "REQUESTS_SCHEMA", "FeedbackRecord", "RequestLog",
           "RequestRecord", "from_params"]

log = logging.getLogger(__name__)

PARTITION = ["date"]
# Each process leaves one app transaction id in a table's log: let old ones expire.
TABLE_CONFIG = {"delta.setTransactionRetentionDuration": "interval 7 days"}
MAX_BACKOFF_S = 60.0
STOP_RETRY_S = 0.2


@dataclass(eq=False)
class _Table:
    """One table's rows waiting to be appended (the writer thread's alone)."""

    uri: str
    schema: pa.Schema
    rows: list[dict[str, Any]] = field(default_factory=list)  # in no append yet
    held: list[dict[str, Any]] = field(default_factory=list)  # a failed append's, batch seq
    seq: int = 0                  # the last batch number given out
    since: float | None = None    # when the oldest of ``rows`` arrived (monotonic clock)
    dt: Any = None                # the table (delta-rs), once it exists: updated in place
    trimmed: int = 0              # rows dropped over the backlog cap, not yet logged

    def count(self) -> int:
        return len(self.held) + len(self.rows)

    def drop_oldest(self, n: int) -> int:
        held = min(n, len(self.held))
        rows = min(n - held, len(self.rows))
        del self.held[:held], self.rows[:rows]
        return held + rows


@dataclass(eq=False)
class _Ask:
    """A flush or a stop asked of the writer, answered with the records left unwritten."""

    stop: bool
    deadline: float
    done: threading.Event = field(default_factory=threading.Event)
    left: int = 0


class RequestLog:
    """Batched background appends of request and feedback records (see the module doc)."""

    def __init__(self, requests_uri: str, feedback_uri: str, log_text: bool = True,
                 flush_seconds: float = 2.0, flush_rows: int = 200,
                 storage_options: dict[str, str] | None = None, *,
                 max_backlog: int = 100_000, recent_ids: int = 100_000,
                 table_config: dict[str, str] | None = None) -> None:
        if not (flush_seconds > 0 and min(flush_rows, recent_ids) >= 1
                and max_backlog >= flush_rows):
            raise ValueError("flush_seconds must be above 0, flush_rows and recent_ids at "
                             "least 1, max_backlog at least flush_rows")
        self.log_text, self.flush_seconds, self.flush_rows = log_text, flush_seconds, flush_rows
        self.storage_options, self.max_backlog, self.recent_ids = (
            storage_options, max_backlog, recent_ids)
        # The lake's retention properties (llmlake.tables) over the log's own.
        self.table_config = {**TABLE_CONFIG, **(table_config or {})}
        self.requests_uri, self.feedback_uri = _absolute(requests_uri), _absolute(feedback_uri)
        self._tables = {"request": _Table(self.requests_uri, REQUESTS_SCHEMA),
                        "feedback": _Table(self.feedback_uri, FEEDBACK_SCHEMA)}
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=2 * max_backlog)
        self._lock = threading.Lock()
        self._recent: OrderedDict[str, None] = OrderedDict()
        self._app_id = f"llmlake-requestlog-{uuid.uuid4().hex}"
        self._thread: threading.Thread | None = None
        self._closed = False
        self._refused = 0             # records the full queue refused, not yet logged
        self._dropped = 0
        self._failures, self._retry_at = 0, 0.0
        self.written = 0              # records appended

    @property
    def dropped(self) -> int:
        """Records that will never be written (each drop is logged as an error)."""
        with self._lock:
            return self._dropped + self._refused

    # -- the request path: no I/O, no waiting --------------------------------------------
    def record_request(self, rec: RequestRecord) -> None:
        self._remember(rec.request_id)
        self._put("request", rec)

    def record_feedback(self, rec: FeedbackRecord) -> None:
        self._put("feedback", rec)

    def _put(self, kind: str, rec: Any) -> None:
        if self._closed:
            log.error("request log: a %s record after stop() was dropped", kind)
            self._drop(1)
            return
        try:
            self._queue.put_nowait((kind, rec))
        except queue.Full:
            with self._lock:
                self._refused += 1

    def _drop(self, n: int) -> None:
        with self._lock:
            self._dropped += n

    def _remember(self, request_id: str) -> None:
        with self._lock:
            self._recent[request_id] = None
            self._recent.move_to_end(request_id)
            if len(self._recent) > self.recent_ids:
                self._recent.popitem(last=False)

    def knows(self, request_id: str) -> bool:
        """Whether ``request_id`` was served: recently by this process, or in the table."""
        with self._lock:
            if request_id in self._recent:
                self._recent.move_to_end(request_id)
                return True
        import pyarrow.dataset as ds
        from deltalake import DeltaTable

        if not DeltaTable.is_deltatable(self.requests_uri, storage_options=self.storage_options):
            return False
        data = DeltaTable(self.requests_uri, storage_options=self.storage_options)
        scan = data.to_pyarrow_dataset().scanner(
            columns=["request_id"], filter=ds.field("request_id") == request_id)
        if scan.head(1).num_rows == 0:
            return False
        self._remember(request_id)
        return True

    # -- life cycle -----------------------------------------------------------------------
    def start(self) -> RequestLog:
        import deltalake  # noqa: F401  (first: its exit hook must run after ours)

        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="request-log", daemon=True)
            self._thread.start()
            atexit.register(self.stop)
        return self

    def flush(self, timeout: float = 60.0) -> int:
        """Append everything recorded so far; returns the records still unwritten (their
        append failed; they are kept for a retry)."""
        left = self._ask(_Ask(stop=False, deadline=time.monotonic() + timeout))
        if left is None:
            raise TimeoutError(f"request log: flush did not finish in {timeout} s")
        return left

    def stop(self, timeout: float = 30.0) -> int:
        """Write everything left, retrying failed appends until ``timeout``, and end the
        writer. Returns the records not written (logged and counted as dropped), or -1
        when the writer did not answer in time."""
        atexit.unregister(self.stop)
        if self._closed:
            return 0
        self._closed = True
        deadline = time.monotonic() + timeout
        left = self._ask(_Ask(stop=True, deadline=deadline))
        if self._thread is not None:
            self._thread.join(max(0.0, deadline - time.monotonic()))
            if not self._thread.is_alive() and not self._queue.empty():
                # put by a request thread that saw the log open just before the stop
                left = self._ask(_Ask(stop=True, deadline=time.monotonic() + STOP_RETRY_S))
        self._report_dropped()
        if left is None:
            log.error("request log: the writer did not stop within %s s", timeout)
        return -1 if left is None else left

    def __enter__(self) -> RequestLog:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _ask(self, ask: _Ask) -> int | None:
        if self._thread is None or not self._thread.is_alive():
            self._serve(ask)  # no writer (not started, or ended): do it in this thread
        else:
            self._queue.put(ask)
            ask.done.wait(max(0.0, ask.deadline - time.monotonic()) + 5)
        return ask.left if ask.done.is_set() else None

    # -- the writer thread ----------------------------------------------------------------
    def _run(self) -> None:
        for table in self._tables.values():
            try:
                self._create(table)
            except Exception as exc:  # tried again before its first append
                log.warning("request log: cannot create %s yet: %s", table.uri, _one_line(exc))
        while True:
            at = self._flush_at()
            try:
                item = self._queue.get(
                    timeout=None if at is None else max(0.0, at - time.monotonic()))
            except queue.Empty:
                item = None
            if isinstance(item, _Ask):
                if self._serve(item):
                    return
                continue
            if item is not None:
                self._take(*item)
            at = self._flush_at()
            if at is not None and at <= time.monotonic():
                self._write_all()

    def _serve(self, ask: _Ask) -> bool:
        """Answer ``ask`` (and any asked meanwhile) once every record queued before it is
        written, or a stop's deadline passed; True when the writer should end."""
        asks = [ask]
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if isinstance(item, _Ask):
                asks.append(item)
            else:
                self._take(*item)
        deadline = max((a.deadline for a in asks if a.stop), default=None)
        left = self._write_all()
        while deadline is not None and left and time.monotonic() < deadline:
            time.sleep(min(STOP_RETRY_S, max(0.0, deadline - time.monotonic())))
            left = self._write_all()
        if deadline is not None and left:
            log.error("request log: %d records not written at stop", left)
            self._drop(left)
        for a in asks:
            a.left = left
            a.done.set()
        return deadline is not None

    def _take(self, kind: str, rec: Any) -> None:
        key = api_key_from_env()
        try:
            row = (request_row(rec, self.log_text, key) if kind == "request"
                   else feedback_row(rec, self.log_text, key))
        except Exception as exc:  # one bad record must not stop the others
            log.error("request log: dropped a %s record: %s", kind, _one_line(exc))
            self._drop(1)
            return
        table = self._tables[kind]
        if table.since is None:
            table.since = time.monotonic()
        table.rows.append(row)
        if table.count() > self.max_backlog:  # appends keep failing: keep the newest
            table.trimmed += table.drop_oldest(table.count() - self.max_backlog)

    def _flush_at(self) -> float | None:
        """When the next append is due (monotonic clock); None while nothing waits."""
        if self._failures:
            return self._retry_at
        if sum(len(t.rows) for t in self._tables.values()) >= self.flush_rows:
            return 0.0
        since = [t.since for t in self._tables.values() if t.since is not None]
        return min(since) + self.flush_seconds if since else None

    def _write_all(self) -> int:
        """Append every waiting row; returns the records still waiting (failed appends)."""
        self._report_dropped()
        failed = []
        for table in self._tables.values():
            try:
                self._append(table)
            except Exception as exc:
                failed.append(f"{table.uri}: {_one_line(exc)}")
        if not failed:
            self._failures = 0
            return 0
        self._failures += 1
        wait = min(self.flush_seconds * 2 ** (self._failures - 1), MAX_BACKOFF_S)
        self._retry_at = time.monotonic() + wait
        left = sum(table.count() for table in self._tables.values())
        log.error("request log: append failed, %d records kept, retry in %.1f s: %s",
                  left, wait, "; ".join(failed))
        return left

    def _report_dropped(self) -> None:
        with self._lock:
            refused, self._refused = self._refused, 0
            self._dropped += refused
        if refused:
            log.error("request log: queue full, dropped %d records", refused)
        for table in self._tables.values():
            if table.trimmed:
                log.error("request log: backlog over %d records; dropped the %d oldest for %s",
                          self.max_backlog, table.trimmed, table.uri)
                self._drop(table.trimmed)
                table.trimmed = 0

    def _create(self, table: _Table) -> None:
        from deltalake import DeltaTable

        if table.dt is not None:
            return
        try:
            DeltaTable.create(table.uri, table.schema, mode="ignore", partition_by=PARTITION,
                              configuration=self.table_config,
                              storage_options=self.storage_options)
        except Exception:  # another process may have created it first
            if not DeltaTable.is_deltatable(table.uri, storage_options=self.storage_options):
                raise
        table.dt = DeltaTable(table.uri, storage_options=self.storage_options)

    def _append(self, table: _Table) -> None:
        from deltalake import CommitProperties, Transaction, write_deltalake

        if not table.count():
            return
        self._create(table)
        if table.held:  # the last append failed, yet it may have committed
            table.dt.update_incremental()
            if (table.dt.transaction_version(self._app_id) or 0) >= table.seq:
                table.held = []
        while table.held or table.rows:
            if not table.held:
                table.seq += 1
                table.held, table.rows, table.since = table.rows, [], None
            txn = Transaction(app_id=self._app_id, version=table.seq)
            write_deltalake(table.dt, pa.Table.from_pylist(table.held, schema=table.schema),
                            mode="append", partition_by=PARTITION, schema_mode="merge",
                            commit_properties=CommitProperties(app_transactions=[txn]))
            self.written += len(table.held)
            table.held = []


def _absolute(uri: str) -> str:
    # A relative lake root must not move if the server changes directory.
    return uri if "://" in uri else os.path.abspath(uri)


def _one_line(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {' '.join(str(exc).split())}"[:500]


def from_params(params: Params) -> RequestLog:
    """The request log of ``params``: the lake's ``ops/requests`` and ``ops/feedback``
    tables, text and flush settings from ``serve``."""
    from llmlake.lake import retention_properties
    from llmlake.storage import storage_options

    lake, serve = Lake(params.lake), params.serve
    return RequestLog(lake.table("ops/requests"), lake.table("ops/feedback"),
                      log_text=serve.log_text, flush_seconds=serve.log_flush_seconds,
                      flush_rows=serve.log_flush_rows,
                      storage_options=storage_options(lake.table("ops/requests")),
                      table_config=retention_properties(params.lake))
