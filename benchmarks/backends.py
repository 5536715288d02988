"""transformers vs vLLM on the same problems, one run at a time, side by side in one table.

    python benchmarks/backends.py --out /tmp/backends --problems 16 --tokens 256 --batch 8 32 \
        --settings baseline skyline feedback speculative-token speculative-step

Each cell is a real `python -m reasoning` run (bundled pair, GSM8K rows of ../shared/data, greedy),
alone on the machine. Printed per run: wall time with engine/model load apart, tokens/s per model,
teacher tokens computed per problem, accuracy; then the issue's three ratios. Run it on demand; the
figures go into the README, not into a timed test.
"""
from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data" / "gsm8k_test_public.jsonl"
SETTINGS = {
    "baseline": ["setting=baseline"],
    "skyline": ["setting=skyline"],
    "feedback": ["setting=feedback", "setting.max_rounds=2"],
    "speculative-token": ["setting=speculative", "setting.granularity=token", "setting.criterion=argmax"],
    "speculative-step": ["setting=speculative", "setting.granularity=step", "setting.criterion=logprob"],
}
LOAD = re.compile(r"(?:vLLM engine ready in|loaded in) ([0-9.]+)s")


def one_run(out: Path, backend: str, setting: str, batch: int, problems: int, tokens: int, extra: list[str]) -> dict:
    folder = out / f"{backend}-{setting}-b{batch}"
    shutil.rmtree(folder, ignore_errors=True)  # a cell cut short earlier would resume and time only its rest
    overrides = [*SETTINGS[setting], f"backend={backend}", "dataset=gsm8k", f"dataset.path={DATA}",
                 "dataset.shuffle=true", "dataset.seed=0", f"dataset.limit={problems}", f"run.batch_size={batch}",
                 f"setting.max_new_tokens={tokens}", "run.progress=false", f"hydra.run.dir={folder}", *extra]
    if setting == "feedback":
        overrides.append(f"setting.review_max_new_tokens={tokens // 2}")
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "reasoning", *overrides], cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if done.returncode:
        return dict(backend=backend, setting=setting, batch=batch, error=done.stderr.strip().splitlines()[-1])
    # Hydra's log file in the run folder has every "loaded in" / "engine ready in" line once.
    logs = "".join(f.read_text() for f in folder.glob("*.log")) or done.stdout + done.stderr
    load = sum(float(s) for s in LOAD.findall(logs))
    records = [json.loads(line) for line in (folder / "results.jsonl").read_text().splitlines() if line.strip()]
    row = dict(backend=backend, setting=setting, batch=batch, wall=wall, load=load, solve=wall - load,
               accuracy=sum(r["correct"] for r in records) / len(records))
    for role in ("student", "teacher"):
        costs = [r["cost"][role] for r in records if role in r.get("cost", {})]
        if costs:
            seconds = sum(c["seconds"] for c in costs)
            row[f"{role}_tok_s"] = sum(c["generated_tokens"] for c in costs) / seconds if seconds else 0.0
            row[f"{role}_computed"] = sum(c.get("computed_tokens", 0) for c in costs) / len(records)
    return row


def show(rows: list[dict]) -> str:
    lines = ["| backend | setting | batch | wall s | load s | solve s | student tok/s | teacher tok/s | teacher computed/problem | accuracy |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['backend']} | {r['setting']} | {r['batch']} | error: {r['error']} |||||||")
            continue
        cell = lambda k, f="{:.1f}": f.format(r[k]) if k in r else "-"  # noqa: E731
        lines.append(f"| {r['backend']} | {r['setting']} | {r['batch']} | {cell('wall', '{:.0f}')} | {cell('load', '{:.0f}')} | "
                     f"{cell('solve', '{:.0f}')} | {cell('student_tok_s')} | {cell('teacher_tok_s')} | "
                     f"{cell('teacher_computed', '{:.0f}')} | {cell('accuracy', '{:.2f}')} |")
    return "\n".join(lines)


def ratios(rows: list[dict], batch: int) -> list[str]:
    by = {(r["backend"], r["setting"], r["batch"]): r for r in rows if "error" not in r}
    said = []

    def tok_s(key, role):
        return by.get(key, {}).get(f"{role}_tok_s")

    for setting, role in (("baseline", "student"), ("skyline", "teacher")):
        hf, vl = tok_s(("hf", setting, batch), role), tok_s(("vllm", setting, batch), role)
        if hf and vl:
            said.append(f"vLLM / transformers tokens/s, {setting} batch {batch}: {vl / hf:.2f} (target >= 1.4)")
    big = max((r["batch"] for r in rows), default=batch)
    large, small = tok_s(("vllm", "skyline", big), "teacher"), tok_s(("vllm", "skyline", batch), "teacher")
    if big != batch and large and small:
        said.append(f"vLLM skyline throughput batch {big} / batch {batch}: {large / small:.2f} (target >= 2)")
    spec, sky = by.get(("vllm", "speculative-token", batch)), by.get(("vllm", "skyline", batch))
    if spec and sky:
        said.append(f"vLLM speculative token/argmax solve time / skyline solve time, batch {batch}: "
                    f"{spec['solve'] / sky['solve']:.2f} (target <= 1)")
    return said


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--problems", type=int, default=16)
    parser.add_argument("--tokens", type=int, default=256)
    parser.add_argument("--batch", type=int, nargs="+", default=[8, 32])
    parser.add_argument("--backends", nargs="+", default=["hf", "vllm"])
    parser.add_argument("--settings", nargs="+", default=list(SETTINGS), choices=list(SETTINGS))
    parser.add_argument("extra", nargs="*", help="more overrides for every run, e.g. student.dtype=bfloat16")
    args = parser.parse_args()
    # A cell's row is kept as soon as it is measured, and a rerun with the same --out skips measured cells:
    # rerunning a finished cell would resume its run folder and time nothing.
    args.out.mkdir(parents=True, exist_ok=True)
    measured = args.out / "rows.jsonl"
    kept = [json.loads(line) for line in measured.read_text().splitlines()] if measured.exists() else []
    done = {(r["backend"], r["setting"], r["batch"]) for r in kept if "error" not in r}
    rows = []
    for batch in args.batch:
        for setting in args.settings:
            if batch != args.batch[0] and setting != "skyline":
                continue  # the larger batch is asked for the skyline's throughput only
            for backend in args.backends:
                if (backend, setting, batch) in done:
                    rows.append(next(r for r in kept if (r["backend"], r["setting"], r["batch"]) == (backend, setting, batch)))
                else:
                    rows.append(one_run(args.out, backend, setting, batch, args.problems, args.tokens, args.extra))
                    with measured.open("a") as out:
                        out.write(json.dumps(rows[-1]) + "\n")
                print(show(rows[-1:]).splitlines()[-1], flush=True)
    report = "\n".join([show(rows), "", *ratios(rows, args.batch[0])])
    print("\n" + report)
    (args.out / "backends.md").write_text(report + "\n")


if __name__ == "__main__":
    main()
