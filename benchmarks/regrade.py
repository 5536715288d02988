"""Re-grade recorded runs with the current grader, no model needed, and show what flips.

    python benchmarks/regrade.py results/runs/gsm8k [MORE_RUNS...] [--examples 3]

Any path may be a run folder, a sweep folder or a folder above them (as `reasoning.results.load`).
For each run it prints how many records' `correct` and `strict_correct` change when their `response`
is graded again against their `gold`, and a few flipped records (the response's tail, the gold, the
old and new extraction). Nothing on disk is changed.
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
class Flip:
    record: dict  # as recorded
    new: Grade  # the current grader's verdict on the same response

    def changed(self, field: str) -> bool:
        return bool(self.record.get(field)) != getattr(self.new, field)


def regrade(run_dir: Path) -> tuple[int, list[Flip]]:
    """(number of records, the records whose correct or strict_correct changes) of one run folder."""
    records = first_of_each(read_records(run_dir / "results.jsonl"), run_dir)  # the same records load() sees
    flips = [Flip(r, grade(r["response"], r["gold"])) for r in records]
    return len(records), [f for f in flips if any(f.changed(field) for field in FIELDS)]


def describe(flip: Flip) -> str:
    old, new = flip.record, flip.new
    tail = " ".join(old["response"][-TAIL_CHARS:].split())
    return (
        f"  {old['id']}  gold {old['gold']!r}\n"
        f"    old: {old.get('answer')!r} by {old.get('extraction_rule')}, correct={old.get('correct')}, "
        f"strict={old.get('strict_correct')}\n"
        f"    new: {new.extracted!r} by {new.rule}, correct={new.correct}, strict={new.strict_correct}\n"
        f"    tail: ...{tail}"
    )


def report(run_dir: Path, examples: int) -> str:
    n, flips = regrade(run_dir)
    lines = [f"{run_dir}: {n} records"]
    for field in FIELDS:
        up = sum(f.changed(field) and getattr(f.new, field) for f in flips)
        down = sum(f.changed(field) and not getattr(f.new, field) for f in flips)
        lines.append(f"  {field}: {up + down} flip ({up} wrong -> right, {down} right -> wrong)")
    lines += [describe(f) for f in flips[:examples]]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="+", help="run folders, sweep folders or folders holding them")
    parser.add_argument("--examples", type=int, default=3, help="flipped records to show per run")
    args = parser.parse_args(argv)
    for run_dir in find_run_dirs(args.paths):
        print(report(run_dir, args.examples))


if __name__ == "__main__":
    main()
