"""Small fake run folders for all four settings, with hand-chosen values the tests check by hand.

Layout written by `write_runs(root)`:
    root/baseline/                 4 problems, 2 correct (strict: 1)
    root/skyline/                  4 problems, 3 correct
    root/sweep/0/, root/sweep/1/   feedback, max_rounds=2 and 3 (a Hydra multirun folder)
    root/speculative/shard0/, shard1/   one speculative run in 2 shards; shard0 ends in a torn line
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import yaml

CONFIG = {
    "seed": 0,
    "setting": {"_target_": "reasoning.settings.baseline.Baseline", "max_new_tokens": 512},
    "student": {"name": "tiny-student", "dtype": "bfloat16", "device": "cpu"},
    "teacher": {"name": "tiny-teacher", "dtype": "bfloat16", "device": "cpu"},
    "dataset": {"_target_": "reasoning.data.synthetic.load", "name": "synthetic", "limit": 4, "seed": 0},
    "grader": {"_target_": "reasoning.grading.grade", "timeout_seconds": 5},
    "run": {"batch_size": 2, "num_shards": 1, "shard": 0, "progress": False},
}


def config(setting: str, **knobs) -> dict:
    """The common config with `setting` swapped in; knobs go under `setting`, `run__x` keys under `run`.

    As in the runner's config.yaml, the setting's name is not in it: it comes from the records.
    """
    cfg = copy.deepcopy(CONFIG)
    cfg["setting"] = {"_target_": f"reasoning.settings.{setting}.{setting.title()}", "max_new_tokens": 512}
    for key, value in knobs.items():
        section, _, name = key.rpartition("__")
        cfg.setdefault(section or "setting", {})[name] = value
    return cfg


def cost(student=None, teacher=None) -> dict:
    """Cost of the roles used: (generated_tokens, forward_passes, seconds); prompt tokens fixed at 100."""
    roles = {"student": student, "teacher": teacher}
    return {
        role: {"prompt_tokens": 100, "generated_tokens": g, "forward_passes": f, "seconds": s}
        for role, (g, f, s) in ((r, v) for r, v in roles.items() if v is not None)
    }


def record(setting: str, i: int, correct: bool, strict=None, **fields) -> dict:
    answer = "42" if correct else "41"
    return {
        "id": f"synthetic-0-{i:04d}", "question": f"question {i}", "gold": "42", "setting": setting,
        "response": f"so the answer is {answer}", "answer": answer, "correct": correct,
        "strict_correct": correct if strict is None else strict, "extraction_rule": "last_number",
        "trace": [{"event": "generate", "role": "student", "round": 1, "prompt": f"question {i}", "text": answer}],
        **fields,
    }


def write_run(run_dir: Path, cfg: dict, records: list[dict], torn_tail: str | None = None) -> Path:
    """A run folder as the runner writes it; `torn_tail` is appended without newline (a killed run)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "config.yaml").write_text(yaml.safe_dump(cfg))
    (run_dir / "environment.json").write_text(json.dumps({"python": "3.x"}))
    lines = "".join(json.dumps(r) + "\n" for r in records)
    (run_dir / "results.jsonl").write_text(lines + (torn_tail or ""))
    return run_dir


def baseline_records() -> list[dict]:
    correct, strict, tokens = [True, False, False, True], [True, False, False, False], [100, 80, 120, 100]
    return [
        record("baseline", i, c, s, cost=cost(student=(t, t + 1, 1.0)))
        for i, (c, s, t) in enumerate(zip(correct, strict, tokens))
    ]


def skyline_records() -> list[dict]:
    correct, tokens = [True, True, True, False], [200, 180, 220, 200]
    return [record("skyline", i, c, cost=cost(teacher=(t, t + 1, 2.0))) for i, (c, t) in enumerate(zip(correct, tokens))]


def feedback_record(i: int, rounds: list[tuple[bool, str | None]]) -> dict:
    """rounds: (correct, verdict) per round; 80 student tokens per round, 20 teacher tokens per review."""
    reviews = sum(v is not None for _, v in rounds)
    return record(
        "feedback", i, rounds[-1][0],
        cost=cost(student=(80 * len(rounds), 81 * len(rounds), 1.0), teacher=(20 * reviews, 21 * reviews, 0.5)),
        rounds=[
            {"round": r, "response": f"attempt {r}: {42 if c else 41}", "answer": "42" if c else "41",
             "correct": c, "verdict": v,
             "feedback": "check step 2" if v == "revise" else "", "student_generated_tokens": 80,
             "teacher_generated_tokens": 20 if v is not None else 0}
            for r, (c, v) in enumerate(rounds, start=1)
        ],
    )


R, W = True, False
FEEDBACK = {
    2: [[(W, "revise"), (R, "accept")], [(R, "accept")], [(R, "revise"), (W, None)], [(W, "accept")]],
    3: [[(W, "revise"), (W, "revise"), (R, None)], [(R, "accept")], [(W, "unparseable"), (R, "accept")],
        [(W, "revise"), (W, "revise"), (W, None)]],
}


def speculative_record(i: int, correct: bool, positions: list[float], teacher_passes: int) -> dict:
    """10 teacher tokens per correction; each intervention at `relative_position` of a 100-token CoT."""
    interventions = [
        {"index": k, "position": round(p * 100), "relative_position": p, "unit": "step",
         "rejected": "bad step", "score": -3.0, "correction": "good step"}
        for k, p in enumerate(positions)
    ]
    return record(
        "speculative", i, correct, interventions=interventions,
        cost=cost(student=(100, 101, 1.0), teacher=(10 * len(positions), teacher_passes, 0.25)),
    )


def write_runs(root: Path) -> dict[str, Path]:
    """All fixture runs under `root`; returns their folders by name."""
    root = Path(root)
    paths = {
        "baseline": write_run(root / "baseline", config("baseline"), baseline_records()),
        "skyline": write_run(root / "skyline", config("skyline"), skyline_records()),
    }
    for n, (max_rounds, problems) in enumerate(FEEDBACK.items()):
        records = [feedback_record(i, rounds) for i, rounds in enumerate(problems)]
        paths[f"feedback{max_rounds}"] = write_run(
            root / "sweep" / str(n), config("feedback", max_rounds=max_rounds, criterion="answer"), records)
    (root / "sweep" / "multirun.yaml").write_text("hydra: {}\n")
    spec = [speculative_record(0, R, [0.05, 0.55], 5), speculative_record(1, R, [], 3),
            speculative_record(2, W, [0.95], 4), speculative_record(3, R, [1.0], 4)]
    shard = dict(unit="step", threshold=-2.0, run__num_shards=2)
    torn = json.dumps(speculative_record(4, R, [0.5], 4))[:57]
    paths["speculative0"] = write_run(
        root / "speculative" / "shard0", config("speculative", run__shard=0, **shard), spec[:2], torn_tail=torn)
    paths["speculative1"] = write_run(
        root / "speculative" / "shard1", config("speculative", run__shard=1, **shard), spec[2:])
    paths["sweep"] = root / "sweep"
    return paths


def execute_notebook(notebook_path: Path, runs: list[Path], monkeypatch) -> list:
    """Run a results notebook headless on `runs` (via REASONING_RUNS) and return its code outputs."""
    import os

    import nbclient
    import nbformat

    root = Path(__file__).resolve().parents[1]
    monkeypatch.setenv("REASONING_RUNS", os.pathsep.join(str(r) for r in runs))  # the kernel inherits it
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")])))
    monkeypatch.delenv("MPLBACKEND", raising=False)  # Agg would hide the inline figures
    notebook = nbformat.read(notebook_path, as_version=4)
    nbclient.NotebookClient(notebook, kernel_name="python3", timeout=300,
                            resources={"metadata": {"path": str(notebook_path.parent)}}).execute()
    return [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]
