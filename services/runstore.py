"""Runs on disk: one SQLite file that keeps run records and results across restarts.

Every server process (``healthgap serve --workers N`` starts several) opens the same file; SQLite's
write-ahead log and ``BEGIN IMMEDIATE`` transactions make "insert this run unless it is known, and
unless its client or the service is at its cap" one atomic step. Results are stored as
zlib-compressed JSON and bounded in bytes (their uncompressed size, which is what a client reads):
when the total is over the bound, the finished runs read least recently are evicted.
"""

from __future__ import annotations

import builtins
import json
import logging
import os
import sqlite3
import threading
import time
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from healthgap.services.errors import BusyError, ClientBusyError, UnknownRunError

logger = logging.getLogger(__name__)

Status = Literal["queued", "running", "succeeded", "failed", "cancelled"]
DONE: tuple[str, ...] = ("succeeded", "failed", "cancelled")
PENDING: tuple[str, ...] = ("queued", "running")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    area TEXT NOT NULL,
    client TEXT NOT NULL,
    params TEXT NOT NULL,
    store_path TEXT NOT NULL,
    status TEXT NOT NULL,
    progress REAL NOT NULL DEFAULT 0,
    message TEXT NOT NULL DEFAULT '',
    submitted_utc TEXT NOT NULL,
    started_utc TEXT,
    finished_utc TEXT,
    duration_s REAL,
    error TEXT,
    retryable INTEGER NOT NULL DEFAULT 0,
    owner INTEGER NOT NULL,
    cancel INTEGER NOT NULL DEFAULT 0,
    result BLOB,
    result_bytes INTEGER NOT NULL DEFAULT 0,
    accessed REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS runs_pending ON runs (status, client);
CREATE INDEX IF NOT EXISTS runs_area ON runs (area, submitted_utc);
"""
_PUBLIC = ("id", "kind", "area", "status", "progress", "message", "submitted_utc",
           "started_utc", "finished_utc", "duration_s")


@dataclass
class Job:
    """One run as stored (``result`` is the JSON text, read only when asked for)."""

    id: str
    kind: str
    area: str
    params: dict[str, Any]
    store_path: Path
    client: str = ""
    status: Status = "queued"
    progress: float = 0.0
    message: str = "queued"
    submitted_utc: str = ""
    started_utc: str | None = None
    finished_utc: str | None = None
    duration_s: float | None = None
    error: dict[str, Any] | None = None
    retryable: bool = False
    result_json: bytes | None = field(default=None, repr=False)

    @property
    def done(self) -> bool:
        """True once the run has succeeded, failed or been cancelled."""
        return self.status in DONE

    @property
    def result(self) -> Any:
        """The result as plain values (None until the run succeeded)."""
        return None if self.result_json is None else json.loads(self.result_json)

    def public(self, *, with_result: bool = True) -> dict[str, Any]:
        """Return the run as the API shows it (no paths, no client address)."""
        out = {name: getattr(self, name) for name in _PUBLIC}
        out["progress"] = round(float(self.progress), 4)
        out["params"] = self.params
        out["error"] = self.error
        out["retryable"] = self.retryable
        out["result"] = self.result if with_result else None
        return out


def pid_alive(pid: int) -> bool:
    """Return True if a process with this id exists."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class RunStore:
    """The runs of a service in one SQLite file.

    Parameters
    ----------
    path
        The SQLite file (created with its directory).
    max_bytes
        Result bytes (uncompressed JSON) kept; finished runs read least recently go first.
    """

    def __init__(self, path: Path, *, max_bytes: int) -> None:
        self.path = Path(path)
        self.max_bytes = int(max_bytes)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._db().executescript(_SCHEMA)

    def _db(self) -> sqlite3.Connection:
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(self.path, timeout=30, isolation_level=None,
                                 check_same_thread=True)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.row_factory = sqlite3.Row
            self._local.db = db
        return db

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        db = self._db()
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    def close(self) -> None:
        """Close this thread's connection."""
        db = getattr(self._local, "db", None)
        if db is not None:
            db.close()
            self._local.db = None

    # -- records

    @staticmethod
    def _job(row: sqlite3.Row, *, with_result: bool) -> Job:
        blob = row["result"] if with_result and "result" in row.keys() else None
        return Job(id=row["id"], kind=row["kind"], area=row["area"],
                   params=json.loads(row["params"]), store_path=Path(row["store_path"]),
                   client=row["client"], status=row["status"], progress=row["progress"],
                   message=row["message"], submitted_utc=row["submitted_utc"],
                   started_utc=row["started_utc"], finished_utc=row["finished_utc"],
                   duration_s=row["duration_s"],
                   error=None if row["error"] is None else json.loads(row["error"]),
                   retryable=bool(row["retryable"]),
                   result_json=None if blob is None else zlib.decompress(blob))

    def claim(self, job: Job, *, per_client: int, pending_max: int) -> tuple[Job, bool]:
        """Insert ``job`` unless a usable run with its id is known; return (run, inserted).

        A known run that failed for an internal reason, was interrupted or was cancelled is
        replaced (run again); any other known run is returned as it is.

        Raises
        ------
        ClientBusyError
            The client already has ``per_client`` runs queued or running.
        BusyError
            The service has ``pending_max`` runs queued or running.
        """
        with self._tx() as db:
            row = db.execute("SELECT * FROM runs WHERE id = ?", (job.id,)).fetchone()
            if row is not None:
                known = self._job(row, with_result=True)
                if not (known.status == "cancelled" or
                        (known.status == "failed" and known.retryable)):
                    db.execute("UPDATE runs SET accessed = ? WHERE id = ?", (time.time(), job.id))
                    return known, False
            mine = db.execute("SELECT COUNT(*) FROM runs WHERE status IN ('queued','running') "
                              "AND client = ?", (job.client,)).fetchone()[0]
            if mine >= per_client:
                raise ClientBusyError(f"this client already has {mine} runs queued or running "
                                      f"(the most one client may have is {per_client}); wait "
                                      "for one to finish or cancel one with DELETE /runs/{id}")
            total = db.execute("SELECT COUNT(*) FROM runs WHERE status IN "
                               "('queued','running')").fetchone()[0]
            if total >= pending_max:
                raise BusyError(f"{total} runs are queued or running (the most allowed); "
                                "retry in a few seconds")
            db.execute(
                "INSERT OR REPLACE INTO runs (id, kind, area, client, params, store_path, "
                "status, progress, message, submitted_utc, owner, accessed) "
                "VALUES (?, ?, ?, ?, ?, ?, 'queued', 0, 'queued', ?, ?, ?)",
                (job.id, job.kind, job.area, job.client, json.dumps(job.params),
                 str(job.store_path), job.submitted_utc, os.getpid(), time.time()))
        return job, True

    def get(self, job_id: str, *, with_result: bool = True, touch: bool = True) -> Job:
        """Return a run, or raise `UnknownRunError`."""
        db = self._db()
        cols = "*" if with_result else "id, kind, area, client, params, store_path, status, " \
            "progress, message, submitted_utc, started_utc, finished_utc, duration_s, error, " \
            "retryable"
        row = db.execute(f"SELECT {cols} FROM runs WHERE id = ?", (job_id,)).fetchone()
        if row is None:
            shown = job_id if len(job_id) <= 64 else f"{job_id[:64]}…"
            raise UnknownRunError(f"run {shown!r} is not known here (never submitted, deleted, "
                                  "or evicted to keep the results within their bound); submit "
                                  "it again with POST")
        if touch and with_result:
            with self._tx() as tx:
                tx.execute("UPDATE runs SET accessed = ? WHERE id = ?", (time.time(), job_id))
        return self._job(row, with_result=with_result)

    def list(self, *, area: str | None = None, limit: int = 1000) -> list[Job]:
        """Return the runs newest first (results left out)."""
        sql = ("SELECT id, kind, area, client, params, store_path, status, progress, message, "
               "submitted_utc, started_utc, finished_utc, duration_s, error, retryable "
               "FROM runs")
        args: tuple[Any, ...] = ()
        if area is not None:
            sql += " WHERE area = ?"
            args = (area,)
        sql += " ORDER BY submitted_utc DESC, id LIMIT ?"
        return [self._job(r, with_result=False)
                for r in self._db().execute(sql, (*args, int(limit))).fetchall()]

    def update(self, job_id: str, **values: Any) -> None:
        """Set columns of one run (``error`` as a dict, ``result`` as JSON bytes)."""
        if "error" in values and values["error"] is not None:
            values["error"] = json.dumps(values["error"])
        if "result" in values and values["result"] is not None:
            raw = values.pop("result")
            values["result"] = zlib.compress(raw, 1)
            values["result_bytes"] = len(raw)
        sets = ", ".join(f"{k} = ?" for k in values)
        with self._tx() as db:  # a new result and the evictions it causes: one transaction
            db.execute(f"UPDATE runs SET {sets} WHERE id = ?", (*values.values(), job_id))
            gone = self._evict(db) if "result" in values else 0
        if gone:
            logger.info("evicted %d finished runs to keep results within %d bytes", gone,
                        self.max_bytes)

    def request_cancel(self, job_id: str) -> Job:
        """Cancel a queued run now, flag a running one; delete a finished one.

        Returns the run as it was before the request.
        """
        with self._tx() as db:
            row = db.execute("SELECT * FROM runs WHERE id = ?", (job_id,)).fetchone()
            if row is None:
                raise UnknownRunError(f"run {job_id!r} is not known here")
            job = self._job(row, with_result=False)
            if job.done:
                db.execute("DELETE FROM runs WHERE id = ?", (job_id,))
            else:
                db.execute("UPDATE runs SET cancel = 1, message = 'cancelling' WHERE id = ?",
                           (job_id,))
        return job

    def cancelled(self, ids: builtins.list[str]) -> set[str]:
        """Return those of ``ids`` whose cancellation was requested."""
        if not ids:
            return set()
        marks = ",".join("?" * len(ids))
        rows = self._db().execute(f"SELECT id FROM runs WHERE cancel = 1 AND id IN ({marks})",
                                  ids).fetchall()
        return {r[0] for r in rows}

    def status(self, job_id: str) -> str | None:
        """Return a run's status (None if unknown)."""
        row = self._db().execute("SELECT status FROM runs WHERE id = ?", (job_id,)).fetchone()
        return None if row is None else str(row[0])

    def recover(self, now_utc: str) -> int:
        """Mark the pending runs of server processes that no longer exist as interrupted."""
        with self._tx() as db:
            rows = db.execute("SELECT id, owner FROM runs WHERE status IN "
                              "('queued','running')").fetchall()
            dead = [r["id"] for r in rows if not pid_alive(int(r["owner"]))]
            for rid in dead:
                db.execute("UPDATE runs SET status = 'failed', retryable = 1, message = ?, "
                           "finished_utc = ?, error = ? WHERE id = ?",
                           ("interrupted", now_utc, json.dumps(INTERRUPTED), rid))
        return len(dead)

    def interrupt(self, ids: builtins.list[str], now_utc: str) -> None:
        """Mark these runs interrupted if they are still queued or running."""
        with self._tx() as db:
            for rid in ids:
                db.execute("UPDATE runs SET status = 'failed', retryable = 1, message = ?, "
                           "finished_utc = ?, error = ? WHERE id = ? AND status IN "
                           "('queued','running')",
                           ("interrupted", now_utc, json.dumps(INTERRUPTED), rid))

    def evict(self) -> int:
        """Drop results of finished runs, least recently read first, beyond ``max_bytes``."""
        with self._tx() as db:
            return self._evict(db)

    def _evict(self, db: sqlite3.Connection) -> int:
        total = db.execute("SELECT COALESCE(SUM(result_bytes), 0) FROM runs").fetchone()[0]
        gone = 0
        if total <= self.max_bytes:
            return gone
        for row in db.execute("SELECT id, result_bytes FROM runs WHERE status = 'succeeded' "
                              "ORDER BY accessed").fetchall():
            if total <= self.max_bytes:
                break
            db.execute("DELETE FROM runs WHERE id = ?", (row["id"],))
            total -= int(row["result_bytes"])
            gone += 1
        return gone

    def result_bytes(self) -> int:
        """Total uncompressed result bytes stored."""
        return int(self._db().execute("SELECT COALESCE(SUM(result_bytes), 0) FROM runs")
                   .fetchone()[0])


INTERRUPTED = {"type": "urn:healthgap:problem:interrupted", "title": "Interrupted", "status": 503,
               "detail": "the server stopped before the run finished; submit it again"}
