"""The sandbox's state: a small document store in one SQLite file.

Every Platform API resource (app, release, dyno, ...) is kept as the JSON
body the API serves, plus private keys that start with ``_`` (never served).
State survives restarts of the sandbox because it is only ever in this file.

One process owns the file (the sandbox server); its threads share one
connection behind a lock, so a request sees a consistent state and a
``transaction()`` makes a read-modify-write atomic.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

SCHEMA = """
CREATE TABLE IF NOT EXISTS objects (
    kind   TEXT NOT NULL,
    id     TEXT NOT NULL,
    app_id TEXT,
    seq    INTEGER NOT NULL,
    body   TEXT NOT NULL,
    PRIMARY KEY (kind, id)
);
CREATE INDEX IF NOT EXISTS objects_app ON objects (kind, app_id);
CREATE TABLE IF NOT EXISTS settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""


class Store:
    """Documents by ``(kind, id)``, optionally owned by an app."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._db = sqlite3.connect(
            str(self.path), check_same_thread=False, isolation_level=None
        )
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(SCHEMA)
        self._depth = 0

    # -- transactions -----------------------------------------------------
    @contextmanager
    def transaction(self) -> Iterator["Store"]:
        """Hold the store for a read-modify-write; nests."""
        with self._lock:
            outer = self._depth == 0
            if outer:
                self._db.execute("BEGIN IMMEDIATE")
            self._depth += 1
            try:
                yield self
            except BaseException:
                self._depth -= 1
                if outer:
                    self._db.execute("ROLLBACK")
                raise
            else:
                self._depth -= 1
                if outer:
                    self._db.execute("COMMIT")

    # -- documents --------------------------------------------------------
    def put(self, kind: str, obj: dict, app_id: str | None = None) -> dict:
        """Insert or replace ``obj`` (which must have an ``id``)."""
        with self._lock:
            row = self._db.execute(
                "SELECT seq FROM objects WHERE kind=? AND id=?",
                (kind, obj["id"]),
            ).fetchone()
            if row:
                seq = row[0]
            else:
                seq = self._next_seq()
            self._db.execute(
                "INSERT OR REPLACE INTO objects (kind, id, app_id, seq, body)"
                " VALUES (?, ?, ?, ?, ?)",
                (kind, obj["id"], app_id, seq, json.dumps(obj)),
            )
        return obj

    def _next_seq(self) -> int:
        row = self._db.execute("SELECT MAX(seq) FROM objects").fetchone()
        return (row[0] or 0) + 1

    def get(self, kind: str, id: str) -> dict | None:
        with self._lock:
            row = self._db.execute(
                "SELECT body FROM objects WHERE kind=? AND id=?", (kind, id)
            ).fetchone()
        return json.loads(row[0]) if row else None

    def find(self, kind: str, app_id: str | None = None, **match: Any) -> list[dict]:
        """All ``kind`` documents (of ``app_id``), oldest first, whose
        top-level keys equal ``match``."""
        with self._lock:
            if app_id is None:
                rows = self._db.execute(
                    "SELECT body FROM objects WHERE kind=? ORDER BY seq", (kind,)
                ).fetchall()
            else:
                rows = self._db.execute(
                    "SELECT body FROM objects WHERE kind=? AND app_id=?"
                    " ORDER BY seq",
                    (kind, app_id),
                ).fetchall()
        docs = [json.loads(r[0]) for r in rows]
        return [d for d in docs if all(d.get(k) == v for k, v in match.items())]

    def delete(self, kind: str, id: str) -> None:
        with self._lock:
            self._db.execute("DELETE FROM objects WHERE kind=? AND id=?", (kind, id))

    def delete_app_objects(self, app_id: str) -> None:
        with self._lock:
            self._db.execute("DELETE FROM objects WHERE app_id=?", (app_id,))

    # -- settings ---------------------------------------------------------
    def setting(self, key: str, default: Any = None) -> Any:
        with self._lock:
            row = self._db.execute(
                "SELECT value FROM settings WHERE key=?", (key,)
            ).fetchone()
        return json.loads(row[0]) if row else default

    def set_setting(self, key: str, value: Any) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO settings (key, value) VALUES (?, ?)",
                (key, json.dumps(value)),
            )

    def close(self) -> None:
        with self._lock:
            self._db.close()
