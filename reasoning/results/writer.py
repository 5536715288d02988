"""results.jsonl: one record per problem, appended and flushed when the problem is done.

A run killed mid-write leaves a torn last line (no newline at its end). Readers ignore it; opening
the file for writing cuts it off, so that problem is solved again and nothing else is lost.
"""
from __future__ import annotations

import json
import logging
import os
from pathlib import Path

log = logging.getLogger(__name__)


def read_records(path: Path) -> list[dict]:
    """Every complete record in the file; a torn last line is ignored."""
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
                raise ValueError(f"{path} line {number} is not JSON; move the file away to start over") from None
    return records


class ResultsWriter:
    def __init__(self, path: Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._drop_torn_tail()
        self.done_ids = {r["id"] for r in read_records(self.path)}
        self._file = open(self.path, "a", encoding="utf-8")

    def write(self, record: dict) -> None:
        # One write per record, then flush + fsync: a kill can only tear the line being written.
        self._file.write(json.dumps(record, ensure_ascii=False) + "\n")
        self._file.flush()
        os.fsync(self._file.fileno())
        self.done_ids.add(record["id"])

    def close(self) -> None:
        self._file.close()

    def _drop_torn_tail(self) -> None:
        if not self.path.exists():
            return
        data = self.path.read_bytes()
        keep = data.rfind(b"\n") + 1
        if keep < len(data):
            log.warning("%s ends in a torn line (a killed run); dropping it, that problem will be redone", self.path)
            with open(self.path, "r+b") as f:
                f.truncate(keep)
