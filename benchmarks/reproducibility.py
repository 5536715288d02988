"""Rerun one setting on the same problems, varying one thing at a time, and count what changes.

    python benchmarks/reproducibility.py --out /tmp/repro-bench -- student=qwen2.5-coder-0.5b-instruct \
        dataset=gsm8k dataset.path=../shared/data/gsm8k_test_public.jsonl dataset.limit=40 setting.max_new_tokens=256
    python benchmarks/reproducibility.py --smoke --out /tmp/repro-smoke     # tiny models, 4 problems

Each row compares a run with the reference run of its mode (batch `--batch`, prefix cache on, the
preset's dtype), in the default mode and with `run.batch_invariant=true`: problems both have, texts that
differ, extracted answers that differ, and problems whose correctness flips. Run it alone on the machine.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run as a script from a checkout

SMOKE = ["student=tiny", "teacher=tiny-teacher", "dataset=synthetic", "dataset.limit=4", "setting.max_new_tokens=8"]


# What the mode promises not to depend on; the other rows (batch 4, a shifted batch, float32) only run in
# the default mode: with the mode on every row already runs alone, and a dtype is part of the model.
INVARIANT_ROWS = ("batch 1", "prefix cache off", "resumed mid-run (empty cache)")


def variants(batch: int, limit: int, mode: str = "false") -> dict[str, tuple[list[str], int | None]]:
    """name -> (overrides against the reference, resume after this many problems or None)."""
    rows = {
        "batch 1": (["run.batch_size=1"], None),
        "batch 4": (["run.batch_size=4"], None),
        "batch composition shifted by one (first problem alone)": ([], 1),
        "prefix cache off": (["student.prefix_cache=false", "teacher.prefix_cache=false"], None),
        "resumed mid-run (empty cache)": ([], max(limit // 2, 1)),
        "float32 instead of the preset's dtype": (["student.dtype=float32", "teacher.dtype=float32"], None),
    }
    return rows if mode == "false" else {k: v for k, v in rows.items() if k in INVARIANT_ROWS}


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="folder for the run folders and table.md")
    parser.add_argument("--setting", default="baseline")
    parser.add_argument("--batch", type=int, default=8, help="the reference runs' run.batch_size")
    parser.add_argument("--smoke", action="store_true", help="tiny models, 4 synthetic problems")
    parser.add_argument("overrides", nargs="*", help="config overrides shared by every run (after --)")
    args = parser.parse_args(argv)
    shared = [f"setting={args.setting}", "run.progress=false", *(SMOKE if args.smoke else []), *args.overrides]
    base = {mode: [*shared, f"run.batch_size={args.batch}", f"run.batch_invariant={mode}"] for mode in ("false", "true")}
    # Both references first: with them alone the table already has the mode's cost and on-vs-off row.
    references = {mode: _run(base[mode], args.out / f"invariant-{mode}" / "reference", None) for mode in base}
    rows = [_row("batch-invariant on vs off", "-", references["false"], references["true"])]
    for mode in base:
        for name, (extra, resume_at) in variants(args.batch, len(references[mode]), mode).items():
            folder = args.out / f"invariant-{mode}" / _slug(name)
            rows.append(_row(name, mode, references[mode], _run([*base[mode], *extra], folder, resume_at)))
    table = _table(rows) + "\n\n" + _costs(args.out)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "table.md").write_text(table + "\n")
    print(table)
    return rows


def _run(overrides: list[str], folder: Path, resume_at: int | None) -> list[dict]:
    """One run into `folder` (reused if it is complete); `resume_at`: first that many problems, then the
    rest by a resume in new models (an empty prefix cache, other batch neighbours)."""
    from reasoning.run import run

    if resume_at is not None:
        run(_compose(*overrides, f"dataset.limit={resume_at}"), folder)
    run(_compose(*overrides), folder)
    return _records(folder)


def _records(folder: Path) -> list[dict]:
    from reasoning.results import read_records
    from reasoning.results.writer import first_of_each

    return first_of_each(read_records(folder / "results.jsonl"), folder)


def _compose(*overrides: str):
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        return compose(config_name="config", overrides=list(overrides))


def _row(name: str, mode: str, a: list[dict], b: list[dict]) -> dict:
    from reasoning.results.noise import compare_records

    return {"what differs": name, "batch_invariant": mode, **vars(compare_records(a, b))}


def _table(rows: list[dict]) -> str:
    head = ["what differs between the two runs", "batch_invariant", "problems", "texts differ", "answers differ",
            "correct flips"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        lines.append(f"| {r['what differs']} | {r['batch_invariant']} | {r['problems']} | {r['texts_differ']} | "
                     f"{r['answers_differ']} | {r['correct_flips']} |")
    return "\n".join(lines)


def _costs(out: Path) -> str:
    """Model seconds per run folder (from summary.json): the mode's cost is its reference against the default's."""
    lines = ["| run | model seconds | generated tokens |", "|---|---|---|"]
    for summary in sorted(out.glob("invariant-*/*/summary.json")):
        cost = json.loads(summary.read_text())["cost"]
        seconds = sum(c["seconds"] for c in cost.values())
        tokens = sum(c["generated_tokens"] for c in cost.values())
        lines.append(f"| {summary.parent.parent.name}/{summary.parent.name} | {seconds:.0f} | {tokens} |")
    return "\n".join(lines)


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in name).strip("-")[:48]


if __name__ == "__main__":
    main()
