"""The deploy journal: what is about to change on Heroku, and how to undo it.

One JSON file per app, ``<statedir>/journal/<app>.json``, mode 0600 in a 0700
directory. It is written *before* each state-changing step (``started`` plus
the undo data: recorded formation, preboot and maintenance as found, scratch
app and lock names) and again when the step is done, so a crash or a kill at
any point leaves enough on disk for ``deploy.recover``.

Writes are atomic (temp file in the same directory, fsync, ``os.replace``): a
kill mid-write leaves the previous journal, never half of one.

Both the engine and the hand-run tasks (``workers.stop`` then, later,
``workers.restore``) use the same file, so hand-run steps are recoverable too.
No secrets go in: only app names, commits, release ids, formation and flags.
"""

from __future__ import annotations

import json
import os
import secrets
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from herotasks.adapters import processes
from herotasks.core.facts import Facts
from herotasks.errors import HerotasksError, recover_hint

VERSION = 1
#: Keys that could carry secrets; refused so a careless caller cannot leak one.
_FORBIDDEN = ("token", "key", "password", "secret", "authorization")

STARTED, DONE, FAILED, CLOSED = "started", "done", "failed", "closed"


@dataclass
class Entry:
    """One step as the journal knows it."""

    step: str
    status: str
    at: float
    undo: dict[str, Any] = field(default_factory=dict)
    error: str | None = None


@dataclass
class Journal:
    """An open journal for one app.

    ``facts`` holds what later steps and recovery need (``slug_id``,
    ``scratch_app``, ``previous_release``, ``formation``, ``preboot``, ...).
    """

    path: Path
    app: str
    deploy_id: str
    stage: str | None = None
    strategy: str | None = None
    started_at: float = 0.0
    finished: bool = False
    facts: Facts = field(default_factory=Facts)
    entries: list[Entry] = field(default_factory=list)
    clock: Any = time.time

    # -- reading -------------------------------------------------------------

    def last(self, step: str) -> Entry | None:
        """The latest entry for ``step``."""
        return next((e for e in reversed(self.entries) if e.step == step), None)

    def planned(self) -> list[dict[str, Any]]:
        """The plan's steps as journaled. A journal written while the check
        was a step of the plan lists it; it is none (core.steps.CHECK)."""
        return [s for s in self.facts.plan if s.get("name") != "check"]

    def status(self, step: str) -> str | None:
        """``started``/``done``/``failed``/``closed`` for ``step``, or None."""
        entry = self.last(step)
        return entry.status if entry else None

    def is_complete(self, step: str) -> bool:
        """``step`` finished (done, or its change since put back or kept)."""
        return self.status(step) in (DONE, CLOSED)

    def has_changed(self, step: str) -> bool:
        """``step`` began changing something that is not closed yet."""
        return self.status(step) in (STARTED, DONE, FAILED)

    def has_open(self) -> bool:
        """Some change is still to be put back (or made permanent)."""
        return next(self.open_entries(), None) is not None

    def open_entries(self) -> Iterator[Entry]:
        """Entries of steps that changed something not yet put back, newest first.

        A step counts once (its latest entry); ``closed`` ones need nothing.
        """
        seen: set[str] = set()
        for entry in reversed(self.entries):
            if entry.step in seen:
                continue
            seen.add(entry.step)
            if self.has_changed(entry.step) and entry.undo:
                yield entry

    # -- writing -------------------------------------------------------------

    def begin(self, step: str, undo: dict[str, Any] | None = None) -> None:
        """Record, before it happens, that ``step`` is about to change state."""
        self.entries.append(Entry(step, STARTED, self.clock(), dict(undo or {})))
        self.save()

    def done(self, step: str, **facts: Any) -> None:
        """Mark ``step`` done and remember ``facts`` it produced."""
        entry = self._current(step)
        entry.status, entry.at = DONE, self.clock()
        self.facts.update(**facts)
        self.save()

    def failed(self, step: str, error: str) -> None:
        """Mark ``step`` failed (its undo may still be needed)."""
        entry = self._current(step)
        entry.status, entry.at, entry.error = FAILED, self.clock(), error
        self.save()

    def close(self, step: str) -> None:
        """``step``'s change was put back or made permanent: nothing to undo.

        ``maintenance.off`` closes ``maintenance.on``, a rollback closes
        ``slug.promote``, a finished window closes the promotion for good.
        """
        entry = self.last(step)
        if entry is not None and entry.status != CLOSED:
            entry.status, entry.at = CLOSED, self.clock()
            self.save()

    def remember(self, **facts: Any) -> None:
        """Store facts that are not tied to one step."""
        self.facts.update(**facts)
        self.save()

    def finish(self) -> None:
        """The deploy ended with nothing left to undo: remove the file."""
        self.finished = True
        try:
            self.path.unlink()
        except FileNotFoundError:
            pass

    def save(self) -> None:
        """Write atomically with mode 0600 (see module docstring)."""
        data = self.to_dict()
        _check_no_secrets(data)
        _ensure_dir(self.path.parent)
        fd, tmp = tempfile.mkstemp(prefix=".journal-", dir=self.path.parent)
        try:
            os.fchmod(fd, 0o600)
            with os.fdopen(fd, "w") as fh:
                json.dump(data, fh, indent=1, sort_keys=True)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass
            raise

    def to_dict(self) -> dict[str, Any]:
        """The on-disk form."""
        return {
            "version": VERSION,
            "app": self.app,
            "deploy_id": self.deploy_id,
            "stage": self.stage,
            "strategy": self.strategy,
            "started_at": self.started_at,
            "facts": self.facts.to_json(),
            "entries": [
                {"step": e.step, "status": e.status, "at": e.at, "undo": e.undo,
                 "error": e.error}
                for e in self.entries
            ],
        }

    def _current(self, step: str) -> Entry:
        entry = self.last(step)
        if entry is None:  # a step may finish without a begin (nothing to undo)
            entry = Entry(step, STARTED, self.clock())
            self.entries.append(entry)
        return entry


def journal_path(statedir: Path, app: str) -> Path:
    """Where the journal of ``app`` lives."""
    return Path(statedir) / "journal" / f"{app}.json"


def load(statedir: Path, app: str) -> Journal | None:
    """The journal of ``app``, or None when no deploy is in flight."""
    path = journal_path(statedir, app)
    try:
        raw = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise HerotasksError(
            f"cannot read the deploy journal {path}: {exc}",
            f"fix or move the file, then run `{recover_hint(None)}` again",
        ) from None
    return from_dict(raw, path=path)


def from_dict(raw: Any, *, path: Path | None = None, where: str | None = None
              ) -> Journal:
    """A Journal from its stored form (a file, or the copy kept with the lock).

    :param path: where it is (or would be) kept on this machine.
    :param where: how to name it in an error (default: the path).
    :raises HerotasksError: not a journal, another version, or damaged.
    """
    where = where or f"the deploy journal {path}"
    fix = "move the file aside, then check the app by hand (deploy.status)"
    if not isinstance(raw, dict):
        raise HerotasksError(
            f"{where} is not a journal (a JSON {type(raw).__name__}, not an "
            "object)", fix)
    if raw.get("version") != VERSION:
        raise HerotasksError(f"{where} has unknown version {raw.get('version')}",
                             "it was written by another herotasks version")
    try:
        return _from_dict(path or Path(), raw)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise HerotasksError(f"{where} is damaged ({_what(exc)})", fix) from None


def adopt(statedir: Path, raw: Any, *, where: str) -> Journal:
    """Take over a journal kept elsewhere (with the lock, on Heroku) as this
    machine's own: validated, then written where :func:`load` finds it."""
    journal = from_dict(raw, where=where)
    journal.path = journal_path(statedir, journal.app)
    journal.save()
    return journal


def _from_dict(path: Path, raw: dict[str, Any]) -> Journal:
    """A Journal from its on-disk form; raises on any field of the wrong shape."""
    facts = raw.get("facts")
    facts = {} if facts is None else facts
    entries = raw.get("entries", [])
    if not isinstance(raw["app"], str) or not isinstance(raw["deploy_id"], str):
        raise TypeError("app and deploy_id must be strings")
    if not isinstance(facts, dict):
        raise TypeError("facts must be an object")
    plan = facts.get("plan")
    if plan is not None and not (isinstance(plan, list) and all(
            isinstance(s, dict) and isinstance(s.get("name"), str) for s in plan)):
        raise TypeError("facts.plan must be a list of steps")
    pid = facts.get("pid")
    if pid is not None and (isinstance(pid, bool) or not isinstance(pid, int)):
        raise TypeError("facts.pid must be a whole number")
    if not isinstance(entries, list):
        raise TypeError("entries must be a list")
    parsed = []
    for i, e in enumerate(entries):
        if not isinstance(e, dict):
            raise TypeError(f"entries[{i}] must be an object")
        if not isinstance(e["step"], str) or e["status"] not in (
                STARTED, DONE, FAILED, CLOSED):
            raise ValueError(f"entries[{i}] has no valid step and status")
        undo = e.get("undo")
        undo = {} if undo is None else undo
        if not isinstance(undo, dict):
            raise TypeError(f"entries[{i}].undo must be an object")
        parsed.append(Entry(e["step"], e["status"], float(e["at"]), undo,
                            e.get("error")))
    return Journal(
        path=path,
        app=raw["app"],
        deploy_id=raw["deploy_id"],
        stage=raw.get("stage"),
        strategy=raw.get("strategy"),
        started_at=float(raw.get("started_at") or 0.0),
        facts=Facts.from_json(facts),
        entries=parsed,
    )


def _what(exc: Exception) -> str:
    if isinstance(exc, KeyError):
        return f"no {exc.args[0]!r} field"
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def start(statedir: Path, app: str, *, stage: str | None, strategy: str | None,
          clock: Any = time.time) -> Journal:
    """A fresh journal for a new deploy, refusing to overwrite an unfinished one."""
    existing = load(statedir, app)
    if existing is not None and existing.has_open():
        steps = ", ".join(e.step for e in existing.open_entries())
        who = existing.facts.pid
        when = time.strftime("%H:%M:%S", time.localtime(existing.started_at))
        raise HerotasksError(
            f"a deploy of {app} started at {when}"
            + (f" by pid {who}" if who else "")
            + f" is unfinished and holds changes ({steps})",
            "wait for it to finish; only if that process is gone, run `"
            + recover_hint(existing.stage or stage) + "`",
        )
    journal = Journal(path=journal_path(statedir, app), app=app,
                      deploy_id=secrets.token_hex(16), stage=stage, strategy=strategy,
                      started_at=clock(), clock=clock)
    journal.facts.update(**processes.me())  # pid, host, start time: recover checks
    journal.save()
    return journal


def set_aside(journal: Journal) -> Path:
    """Move a journal that is no longer the truth (another deploy holds the
    lock, or its lock was released elsewhere: core.recover.stale) out of
    :func:`load`'s way. It is kept, renamed, for a person to read; nothing
    acts on it again."""
    target = journal.path.with_name(
        f"{journal.app}.{journal.deploy_id[:12]}.set-aside.json")
    os.replace(journal.path, target)
    return target


def unmigrated_path(statedir: Path, app: str) -> Path:
    """Where this machine notes that ``app`` runs code kept without its
    migration (``deploy.recover --keep-code`` past the promotion)."""
    return Path(statedir) / "journal" / f"{app}.unmigrated.json"


def note_unmigrated(statedir: Path, app: str, *, commit: str | None,
                    since: str | None, reason: str) -> None:
    """Remember that ``commit`` runs on ``app`` without the migrations since
    ``since``: ``deploy.status`` and the next deploy diff from ``since``, so
    they keep them pending until a migration runs (:func:`migrated`)."""
    path = unmigrated_path(statedir, app)
    _ensure_dir(path.parent)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump({"app": app, "commit": commit, "since": since, "reason": reason},
                  fh)


def unmigrated(statedir: Path, app: str) -> dict[str, Any] | None:
    """The note of :func:`note_unmigrated` (None: none, or unreadable)."""
    try:
        note = json.loads(unmigrated_path(statedir, app).read_text())
    except (OSError, ValueError):
        return None
    return note if isinstance(note, dict) and note.get("app") == app else None


def migrated(statedir: Path, app: str) -> None:
    """A migration ran on ``app``: whatever was kept without one has it now."""
    unmigrated_path(statedir, app).unlink(missing_ok=True)


def open_or_start(statedir: Path, app: str, *, stage: str | None,
                  clock: Any = time.time) -> Journal:
    """The journal hand-run steps share: the one in flight, or a new one."""
    existing = load(statedir, app)
    if existing is not None:
        existing.clock = clock
        return existing
    return start(statedir, app, stage=stage, strategy="by hand", clock=clock)


def _ensure_dir(path: Path) -> None:
    """Create the journal folder (and the statedir) private to the user.

    Only folders herotasks creates are tightened: the journal folder always,
    the statedir when this call makes it (it may be a folder the user chose).
    """
    if not path.parent.exists():
        path.parent.mkdir(mode=0o700, parents=True)
    path.mkdir(mode=0o700, exist_ok=True)
    os.chmod(path, 0o700)


def _check_no_secrets(data: Any, where: str = "") -> None:
    if isinstance(data, dict):
        for key, value in data.items():
            if any(word in str(key).lower() for word in _FORBIDDEN):
                raise HerotasksError(f"refusing to journal key {where}{key!r}",
                                     "this is a herotasks bug; please report it")
            _check_no_secrets(value, f"{where}{key}.")
    elif isinstance(data, list):
        for item in data:
            _check_no_secrets(item, where)
