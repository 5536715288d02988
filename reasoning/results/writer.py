"""results.jsonl: one record per problem, appended and flushed when the problem is done.

A run killed mid-write leaves a torn last line (no newline at its end). Readers ignore it; opening
the file for writing cuts it off, so that problem is solved again and nothing else is lost. A write
that fails (disk full) cuts the file back to its last whole record before the error goes on.

A problem recorded twice (two runs into one folder before the lock existed) counts once:
`first_of_each` keeps its first record and warns with the count. `lock_folder` keeps a second
process out of a run folder.
"""
from __future__ import annotations

import errno
import fcntl
import json
import logging
import os
from contextlib import contextmanager
from pathlib import Path

from reasoning.errors import ReasoningError

log = logging.getLogger(__name__)
LOCK_NAME = ".lock"
# Bumped when a record's fields change meaning. 2: records carry it; config.yaml holds the prompts' hashes.
SCHEMA_VERSION = 2


class DamagedResults(ReasoningError, ValueError):
    """A results file with a broken line before its last: damage, not a torn write (a ValueError, as before)."""


def read_records(path: Path) -> list[dict]:
    """Every complete record in the file; a torn last line is ignored (duplicates: `first_of_each`)."""
    path = Path(path)
    if not path.exists():
        return []
    complete = path.read_text(encoding="utf-8").split("\n")[:-1]  # what follows the last newline is torn
    records = []
    for number, line in enumerate(complete, start=1):
        if line.strip():
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                raise DamagedResults(f"{path} line {number} is not JSON; delete that line to keep the other "
                                     "records, or move the file away to start over") from None
    return records


def first_of_each(records: list[dict], where) -> list[dict]:
    """The first record of each problem id, in file order; a warning counts the duplicates dropped."""
    seen, unique = set(), []
    for record in records:
        if record.get("id") not in seen:
            seen.add(record.get("id"))
            unique.append(record)
    if len(unique) < len(records):
        log.warning("%s holds %d duplicate record(s) of problems recorded twice; keeping the first of each",
                    where, len(records) - len(unique))
    return unique


class ResultsWriter:
    def __init__(self, path: Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._drop_torn_tail()
        self.done_ids = {r["id"] for r in first_of_each(read_records(self.path), self.path)}
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def write(self, record: dict) -> None:
        # One record per write, then fsync: a kill can only tear the line being written, and a failed
        # write (disk full) is cut back so the file ends in a whole record.
        line = (json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8")
        end = os.lseek(self._fd, 0, os.SEEK_END)
        try:
            _write_all(self._fd, line)
            os.fsync(self._fd)
        except OSError:
            os.ftruncate(self._fd, end)
            raise
        self.done_ids.add(record["id"])

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def _drop_torn_tail(self) -> None:
        if not self.path.exists():
            return
        data = self.path.read_bytes()
        keep = data.rfind(b"\n") + 1
        if keep < len(data):
            log.warning("%s ends in a torn line (a killed run); dropping it, that problem will be redone", self.path)
            with open(self.path, "r+b") as f:
                f.truncate(keep)


def _write_all(fd: int, data: bytes) -> None:
    while data:
        data = data[os.write(fd, data):]


@contextmanager
def lock_folder(folder: Path):
    """Hold `folder` for this process: an OS lock (flock) that dies with the process, so a killed run
    leaves nothing stale. A second process is refused with the pid of the one holding it."""
    folder = Path(folder)
    fd = os.open(folder / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            if error.errno not in (errno.EWOULDBLOCK, errno.EACCES):
                raise
            raise ReasoningError(f"{folder} is in use by another run (pid {holder(folder) or 'unknown'}); "
                                 "wait for it to end or choose another hydra.run.dir") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        yield
    finally:
        os.close(fd)  # closing releases the lock


def holder(folder: Path) -> int | None:
    """The pid of the process holding `folder`'s lock, or None when no live process holds it."""
    path = Path(folder) / LOCK_NAME
    if not path.exists():
        return None
    with open(path, "rb") as f:
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError:
            text = path.read_text().strip()
            return int(text) if text.isdigit() else 0  # locked a moment ago, pid not yet written
        fcntl.flock(f.fileno(), fcntl.LOCK_UN)
        return None
