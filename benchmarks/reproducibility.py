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
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import NamedTuple

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run as a script from a checkout

SMOKE = ["student=tiny", "teacher=tiny-teacher", "dataset=synthetic", "dataset.limit=4", "setting.max_new_tokens=8"]


# The default mode runs every row but the kill (its "resumed mid-run" row already shows what a resume does);
# the mode runs only what it promises not to depend on, the kill standing for every resume: with the mode on
# every row already runs alone, and a dtype is part of the model.
KILLED = "killed (SIGKILL) after its first batch, rerun"
INVARIANT_ROWS = (KILLED, "batch 1", "prefix cache off")


class Variant(NamedTuple):
    overrides: list[str]  # against the reference
    stop_after: int | None = None  # run this many problems, then the rest by a resume in new models
    kill_after: int | None = None  # `python -m reasoning` SIGKILLed once this many records are written, rerun


def variants(batch: int, limit: int, mode: str = "false") -> dict[str, Variant]:
    rows = {
        "batch 1": Variant(["run.batch_size=1"]),
        "batch 4": Variant(["run.batch_size=4"]),
        "batch composition shifted by one (first problem alone)": Variant([], stop_after=1),
        "prefix cache off": Variant(["student.prefix_cache=false", "teacher.prefix_cache=false"]),
        "resumed mid-run (empty cache)": Variant([], stop_after=max(limit // 2, 1)),
        "float32 instead of the preset's dtype": Variant(["student.dtype=float32", "teacher.dtype=float32"]),
        KILLED: Variant([], kill_after=batch),
    }
    if mode == "true":
        return {name: rows[name] for name in INVARIANT_ROWS}
    return {name: variant for name, variant in rows.items() if name != KILLED}


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="folder for the run folders and table.md")
    parser.add_argument("--setting", default="baseline")
    parser.add_argument("--batch", type=int, default=8, help="the reference runs' run.batch_size")
    parser.add_argument("--smoke", action="store_true", help="tiny models, 4 synthetic problems")
    parser.add_argument("overrides", nargs="*", help="config overrides shared by every run (after --)")
    args = parser.parse_args(argv)
    shared = [f"setting={args.setting}", "run.progress=false", *(SMOKE if args.smoke else []), *args.overrides]
    base = {mode: [*shared, f"run.batch_size={args.batch}", f"run.batch_invariant={mode}"]
            for mode in ("false", "true")}
    # Both references first: with them alone the table already has the mode's cost and on-vs-off row.
    references = {mode: _run(base[mode], args.out / f"invariant-{mode}" / "reference", None) for mode in base}
    rows = [_row("batch-invariant on vs off", "-", references["false"], references["true"])]
    for mode in base:
        for name, variant in variants(args.batch, len(references[mode]), mode).items():
            folder = args.out / f"invariant-{mode}" / _slug(name)
            overrides = [*base[mode], *variant.overrides]
            if variant.kill_after is not None:
                _kill_after(overrides, folder, variant.kill_after)
            rows.append(_row(name, mode, references[mode], _run(overrides, folder, variant.stop_after)))
    table = _table(rows) + "\n\n" + _costs(args.out)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "table.md").write_text(table + "\n")
    print(table)
    return rows


def _run(overrides: list[str], folder: Path, stop_after: int | None) -> list[dict]:
    """One run into `folder` (reused if it is complete); `stop_after`: first that many problems, then the
    rest by a resume in new models (an empty prefix cache, other batch neighbours)."""
    from reasoning.run import run

    if stop_after is not None:
        run(_compose(*overrides, f"dataset.limit={stop_after}"), folder)
    run(_compose(*overrides), folder)
    return _records(folder)


def _kill_after(overrides: list[str], folder: Path, records: int) -> None:
    """`python -m reasoning` into `folder`, SIGKILLed once it has written `records` records (a job killed
    mid-run: its next batch is lost in flight); skipped where the folder already has them."""
    from reasoning.results import read_records

    results = folder / "results.jsonl"
    if len(read_records(results)) >= records:
        return
    proc = subprocess.Popen([sys.executable, "-m", "reasoning", *overrides, f"hydra.run.dir={folder}"], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while proc.poll() is None and len(read_records(results)) < records:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()


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
