"""Re-grade recorded runs with the current grader, no model needed, and show what flips.

    python benchmarks/regrade.py results/runs/gsm8k [MORE_RUNS...] [--examples 3]

(A script's folder, not the current one, is on sys.path: from a checkout other than the installed
one, prefix PYTHONPATH=. so that this checkout's grader is the one measured.)

Any path may be a run folder, a sweep folder or a folder above them (as `reasoning.results.load`).
For each run it prints how many records' `correct` and `strict_correct` change when their `response`
is graded again against their `gold`, the same for the attempts the runner graded inside a record
(feedback's rounds), how many extracted answers change, and a few changed records (the response's
tail, the gold, the old and new extraction). Nothing on disk is changed.
"""

import argparse
from dataclasses import dataclass
from pathlib import Path

from reasoning.grading import Grade, grade
from reasoning.results.load import find_run_dirs
from reasoning.results.writer import first_of_each, read_records

FIELDS = ("correct", "strict_correct")
TAIL_CHARS = 160


@dataclass(frozen=True)
class Regraded:
    """One graded text (a record or an attempt inside it): what was recorded, and the grade now."""

    id: str
    gold: str
    old: dict  # holds response, answer, correct, strict_correct as recorded
    new: Grade

    def flipped(self, field: str) -> bool:
        return field in self.old and bool(self.old[field]) != getattr(self.new, field)

    @property
    def answer_changed(self) -> bool:
        return self.old.get("answer") != self.new.extracted


def regrade(run_dir: Path) -> tuple[list[Regraded], list[Regraded]]:
    """(the records, the attempts inside them) of one run folder, each graded again."""
    records = first_of_each(read_records(run_dir / "results.jsonl"), run_dir)  # the same records load() sees
    finals = [_regraded(r, r) for r in records]
    attempts = [_regraded(r, attempt) for r in records for attempt in graded_attempts(r)]
    return finals, attempts


def graded_attempts(record: dict) -> list[dict]:
    """The attempts the runner graded inside a record (feedback's rounds): items with response and correct."""
    return [
        item for value in record.values() if isinstance(value, list)
        for item in value if isinstance(item, dict) and "response" in item and "correct" in item
    ]


def _regraded(record: dict, graded: dict) -> Regraded:
    return Regraded(record["id"], record["gold"], graded, grade(graded["response"], record["gold"]))


def flip_counts(items: list[Regraded], field: str) -> tuple[int, int]:
    """(wrong -> right, right -> wrong) for one field."""
    flips = [item for item in items if item.flipped(field)]
    up = sum(getattr(item.new, field) for item in flips)
    return up, len(flips) - up


def describe(item: Regraded) -> str:
    old, new = item.old, item.new
    tail = " ".join(old["response"][-TAIL_CHARS:].split())
    return (
        f"  {item.id}  gold {item.gold!r}\n"
        f"    old: {old.get('answer')!r} by {old.get('extraction_rule', '?')}, correct={old.get('correct')}, "
        f"strict={old.get('strict_correct')}\n"
        f"    new: {new.extracted!r} by {new.rule}, correct={new.correct}, strict={new.strict_correct}\n"
        f"    tail: ...{tail}"
    )


def report(run_dir: Path, examples: int) -> str:
    finals, attempts = regrade(run_dir)
    lines = [f"{run_dir}: {len(finals)} records" + (f", {len(attempts)} graded attempts" if attempts else "")]
    for label, items in (("", finals), ("attempts ", attempts)):
        for field in FIELDS if items else ():
            up, down = flip_counts(items, field)
            lines.append(f"  {label}{field}: {up + down} flip ({up} wrong -> right, {down} right -> wrong)")
    changed = [item for item in finals if item.answer_changed]
    lines.append(f"  extracted answer changed: {len(changed)} of {len(finals)}")
    flipped = [item for item in finals if any(item.flipped(field) for field in FIELDS)]
    shown = flipped or changed  # no flip: show answers that changed without changing the verdict
    if shown[:examples]:
        lines.append("  flipped records:" if flipped else "  changed answers (verdict unchanged):")
    lines += [describe(item) for item in shown[:examples]]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="+", help="run folders, sweep folders or folders holding them")
    parser.add_argument("--examples", type=int, default=3, help="records to show per run")
    args = parser.parse_args(argv)
    for run_dir in find_run_dirs(args.paths):
        print(report(run_dir, args.examples))


if __name__ == "__main__":
    main()
