"""Jobs that outlive the server: their state in SQLite, their files in a folder each.

    DATA_DIR/jobs.sqlite3          one row per job
    DATA_DIR/jobs/<id>/content.png the photo at the output size (what the run reads); a clip's
                                   first frame at the frames' size
                       style.png   the painting at its working size
                       preview.png the latest image of the run, replaced as it goes (a clip's:
                                   its latest finished frame)
                       result.png  the finished image (or the last one of a cancelled or failed run),
                                   with the run's settings in its metadata; a comparison's: the
                                   variant kept
    a clip's job:      clip.*      the uploaded clip, as it came (its extension from its content)
                       work/       impasto video's work dir: the decoded frames, flows and finished
                                   frames, from which a restarted job continues; removed at its end
                       result.mp4  the video (a cancelled job's: its finished frames)
    a comparison's:    variant-N.png  the photo at the Nth strength, with its run's settings

    DATA_DIR/lock                  held (flock) by the one server using the data dir

Folder names are generated ids; the names of uploaded files are kept as text only. Only folders of
these names (a job's id, `.new-<id>`, `.upload-<id>`) are ever removed: anything else under `jobs/`
is not impasto's.
"""

from __future__ import annotations

import dataclasses
import fcntl
import json
import os
import re
import shutil
import sqlite3
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image

from ..errors import ConfigError
from ..images import save_image

__all__ = ["FINAL", "KINDS", "STATUSES", "Job", "JobStore"]

KINDS = ("still", "video", "compare")
"""A photo in the style of a painting, a clip, or a photo at several strengths."""
STATUSES = ("queued", "running", "done", "failed", "cancelled")
FINAL = frozenset({"done", "failed", "cancelled"})
MAX_ATTEMPTS = 3
"""A job the server died during this many times is failed rather than run again."""

_ID = re.compile(r"[0-9a-f]{32}")
_OURS = re.compile(r"(\.new-|\.upload-)?[0-9a-f]{32}")
"""The names of the folders impasto makes under jobs/: a job's, one being added, an upload being checked."""
_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    created REAL NOT NULL,
    started REAL,
    finished REAL,
    settings TEXT NOT NULL,
    config TEXT NOT NULL,
    content_name TEXT NOT NULL,
    style_name TEXT NOT NULL,
    width INTEGER NOT NULL,
    height INTEGER NOT NULL,
    step INTEGER NOT NULL DEFAULT 0,
    total INTEGER NOT NULL DEFAULT 0,
    loss REAL,
    error TEXT,
    attempts INTEGER NOT NULL DEFAULT 0
)
"""
_ADDED = {"kind": "TEXT NOT NULL DEFAULT 'still'", "video": "TEXT", "variants": "TEXT", "kept": "INTEGER",
          "client": "TEXT NOT NULL DEFAULT ''", "bytes": "INTEGER NOT NULL DEFAULT 0", "expires": "REAL"}
"""Columns added since the first schema: a data dir of an older server gets them at start."""
_JSON = ("settings", "config", "video", "variants")


@dataclass
class Job:
    """One style transfer job, as stored."""

    id: str
    status: str
    created: float
    settings: dict[str, Any]
    """The settings as the user gave them (canonical names)."""
    config: dict[str, Any]
    """The full `TransferConfig` of the run, seed included."""
    content_name: str
    style_name: str
    width: int
    """Output size in px."""
    height: int
    started: float | None = None
    finished: float | None = None
    step: int = 0
    total: int = 0
    loss: float | None = None
    error: str | None = None
    attempts: int = 0
    kind: str = "still"
    """One of KINDS."""
    video: dict[str, Any] | None = None
    """A clip's `VideoConfig`, as a dict."""
    variants: list[dict[str, Any]] | None = None
    """A comparison's runs: [{"strength": 0.25, "status": "done", "step": 50}, ...]."""
    kept: int | None = None
    """The 1-based variant of a comparison kept as its result."""
    client: str = ""
    """The address of the client that sent it (the one a trusted proxy names)."""
    bytes: int = 0
    """What its folder holds: at admission, the most it may come to; once it ends, what it does."""
    expires: float | None = None
    """When it is removed (a time as `created`); None: not before it ends, or never (--keep-days 0)."""
    extra: dict[str, Any] = field(default_factory=dict, compare=False)
    """Live figures that are not stored (rate, ETA, preview version)."""


class JobStore:
    """Thread-safe access to the jobs under `data_dir`."""

    def __init__(self, data_dir: Path, keep_days: float = 0.0) -> None:
        self.keep_days = keep_days
        """Days an ended job is kept; 0: for ever."""
        self.root = data_dir / "jobs"
        self.root.mkdir(parents=True, exist_ok=True)
        self._lock_file = _locked(data_dir)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(data_dir / "jobs.sqlite3", check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(_SCHEMA)
        columns = {row["name"] for row in self._db.execute("PRAGMA table_info(jobs)")}
        for name, kind in _ADDED.items():
            if name not in columns:
                self._db.execute(f"ALTER TABLE jobs ADD COLUMN {name} {kind}")

    def close(self) -> None:
        with self._lock:
            self._db.close()
        self._lock_file.close()  # and with it the lock

    def folder(self, job_id: str) -> Path:
        """The folder of a job's images."""
        if not _ID.fullmatch(job_id):
            raise ValueError(f"not a job id: {job_id!r}")
        return self.root / job_id

    def add(self, content: Image.Image, style: Image.Image, files: dict[str, Path] | None = None,
            **fields: Any) -> Job:
        """Store a new queued job with its two input images (already at their working sizes) and
        `files` (name in the folder -> a file of this data dir's, moved in: a clip).

        The files are put in a hidden folder that is renamed into place, so a job's folder is
        complete or absent."""
        job = Job(id=uuid.uuid4().hex, status="queued", created=time.time(),
                  width=content.width, height=content.height, **fields)
        staging = self.root / f".new-{job.id}"
        staging.mkdir()
        row = {name: _column(value) for name, value in dataclasses.asdict(job).items() if name != "extra"}
        try:
            save_image(content, staging / "content.png")
            save_image(style, staging / "style.png")
            for name, path in (files or {}).items():
                path.replace(staging / name)
            staging.rename(self.folder(job.id))
            with self._lock:  # a full disk may refuse the row too: then the folder goes as well
                self._db.execute(f"INSERT INTO jobs ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})",
                                 list(row.values()))
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            shutil.rmtree(self.folder(job.id), ignore_errors=True)
            raise
        return job

    def get(self, job_id: str) -> Job | None:
        """The job with this id, or None (also for strings that are not ids)."""
        if not _ID.fullmatch(job_id):
            return None
        with self._lock:
            row = self._db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return None if row is None else _job(row)

    def all(self) -> list[Job]:
        """Every job, newest first."""
        with self._lock:
            rows = self._db.execute("SELECT * FROM jobs ORDER BY created DESC").fetchall()
        return [_job(row) for row in rows]

    def queued_ids(self) -> list[str]:
        """The queued jobs, oldest (next to run) first."""
        with self._lock:
            rows = self._db.execute("SELECT id FROM jobs WHERE status = 'queued' ORDER BY created").fetchall()
        return [row["id"] for row in rows]

    def update(self, job_id: str, **fields: Any) -> None:
        """Change some stored fields of a job."""
        names = ", ".join(f"{name} = ?" for name in fields)
        with self._lock:
            self._db.execute(f"UPDATE jobs SET {names} WHERE id = ?", [*map(_column, fields.values()), job_id])

    def claim_next(self) -> Job | None:
        """Mark the oldest queued job running and return it; None if none is queued."""
        with self._lock:
            row = self._db.execute("SELECT * FROM jobs WHERE status = 'queued' ORDER BY created LIMIT 1").fetchone()
            if row is None:
                return None
            self._db.execute(
                "UPDATE jobs SET status = 'running', started = ?, attempts = attempts + 1, step = 0, error = NULL "
                "WHERE id = ?", (time.time(), row["id"]))
            row = self._db.execute("SELECT * FROM jobs WHERE id = ?", (row["id"],)).fetchone()
        return _job(row)

    def finish(self, job_id: str, status: str, error: str | None = None) -> None:
        """Mark a job done, failed or cancelled, with the bytes its folder holds now, to be removed
        `keep_days` days from now. A cancelled clip's upload (and work dir) goes at once: its finished
        frames are its result."""
        folder, now = self.folder(job_id), time.time()
        if status == "cancelled":
            for clip in folder.glob("clip.*"):
                clip.unlink()
            shutil.rmtree(folder / "work", ignore_errors=True)
        self.update(job_id, status=status, error=error, finished=now, bytes=_folder_bytes(folder),
                    expires=now + self.keep_days * 86_400 if self.keep_days else None)

    def usage(self, client: str | None = None) -> tuple[int, int]:
        """(bytes, jobs waiting or running) of every job, or of `client`'s."""
        where, arguments = ("WHERE client = ?", (client,)) if client is not None else ("", ())
        with self._lock:
            row = self._db.execute(f"SELECT COALESCE(SUM(bytes), 0) AS bytes, COALESCE(SUM(status IN "
                                   f"('queued', 'running')), 0) AS waiting FROM jobs {where}", arguments).fetchone()
        return row["bytes"], row["waiting"]

    def expired(self, now: float) -> list[str]:
        """The ended jobs whose time is up at `now`."""
        with self._lock:
            rows = self._db.execute("SELECT id FROM jobs WHERE expires IS NOT NULL AND expires <= ?", (now,)).fetchall()
        return [row["id"] for row in rows]

    def expire(self) -> list[str]:
        """Remove the ended jobs whose time is up; their ids."""
        gone = self.expired(time.time())
        for job_id in gone:
            self.delete(job_id)
        return gone

    def recover(self) -> list[str]:
        """After a restart: jobs that were running go back to the queue, unless the server has
        already stopped during them `MAX_ATTEMPTS` times, and folders of jobs that were being added
        (or uploads being checked) are removed, and nothing else. Returns the ids put back."""
        with self._lock:
            rows = self._db.execute("SELECT id, attempts FROM jobs WHERE status = 'running'").fetchall()
        requeued = []
        for row in rows:
            if row["attempts"] >= MAX_ATTEMPTS:
                self.finish(row["id"], "failed", f"the server stopped during this job {row['attempts']} times: "
                            f"try a smaller size")
            else:
                self.update(row["id"], status="queued")
                requeued.append(row["id"])
        with self._lock:
            known = {row["id"] for row in self._db.execute("SELECT id FROM jobs")}
        for folder in self.root.iterdir():  # a job being added when the server stopped: never stored
            if _OURS.fullmatch(folder.name) and folder.name not in known:
                shutil.rmtree(folder, ignore_errors=True)
        return requeued

    def delete(self, job_id: str) -> None:
        """Remove a job and all its files."""
        with self._lock:
            self._db.execute("DELETE FROM jobs WHERE id = ?", (job_id,))
        shutil.rmtree(self.folder(job_id), ignore_errors=True)


def _folder_bytes(folder: Path) -> int:
    """The bytes of the files under `folder`."""
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())


def _locked(data_dir: Path) -> Any:
    """The data dir's lock file, open and locked for this process (the lock goes when it closes, or
    the process ends, however it ends).

    Raises:
        ConfigError: another server holds it.
    """
    file = open(data_dir / "lock", "a+")  # noqa: SIM115 - held open for the store's life
    try:
        fcntl.flock(file, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        file.seek(0)
        holder = file.read().strip() or "unknown"
        file.close()
        raise ConfigError(f"another impasto serve (pid {holder}) uses the data dir {data_dir}: stop it, or give "
                          f"this one its own --data-dir") from None
    file.truncate(0)
    file.write(str(os.getpid()))
    file.flush()
    return file


def _column(value: Any) -> Any:
    """A field as stored: dicts and lists as JSON."""
    return json.dumps(value) if isinstance(value, (dict, list)) else value


def _job(row: sqlite3.Row) -> Job:
    values = dict(row)
    for name in _JSON:
        values[name] = None if values[name] is None else json.loads(values[name])
    return Job(**values)
