"""Read run folders into pandas: one row per problem (`load`) or per round/intervention/event (`load_events`).

A run folder holds `config.yaml` and `results.jsonl`. Any path given may be a run folder, a Hydra
sweep folder (0/, 1/, ...) or any folder above them: every folder with a `results.jsonl` below it is
a run. Shards of one run (`run.num_shards > 1`, siblings that differ only in `run.shard`) share one
`run` label, so grouping by `run` merges them while `run_dir` still tells them apart.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import yaml

from reasoning.errors import ReasoningError
from reasoning.results.identity import flatten, identity
from reasoning.results.summary import COST_METRICS, flat_record
from reasoning.results.writer import first_of_each, read_records  # one reader of the format: a torn last line is ignored
from reasoning.settings.verify import unused_knobs

log = logging.getLogger(__name__)

LEVELS = ("rounds", "interventions", "trace")
BASE_COLUMNS = ["id", "setting", "correct", "strict_correct", "run", "run_dir"]
# Keys added after runs were shipped, with the value such older runs had (they ran before the choice
# existed), so that an old run reads as what it was: `backend.name=hf`, not `None`.
IMPLIED = {"backend.name": "hf", "student.backend": "hf", "teacher.backend": "hf", "run.batch_invariant": False}
IMPLIED_FOR_SETTING = {"feedback": {"setting.refine_format": "single"},
                       "speculative": {"setting.step_delimiter": "\n"}}


@dataclass
class Run:
    """One run folder: its flattened config, its identity, its records (deduplicated by id) and its label."""

    dir: Path
    config: dict  # flattened, `_target_`s dropped: the config columns
    identity: dict  # what makes two folders one run (reasoning.results.identity)
    records: list[dict]
    label: str = ""


def load(*paths) -> pd.DataFrame:
    """One row per problem of every run under `paths`: record fields, costs, counts, `run`, config keys."""
    runs = _runs(paths)
    df = pd.DataFrame([_problem_row(record, run) for run in runs for record in run.records])
    cost_columns = [c for c in df.columns if "." not in c and c.endswith(tuple(f"_{m}" for m in COST_METRICS))]
    df[cost_columns] = df[cost_columns].fillna(0)  # a role the setting never called cost nothing
    config_keys = set().union(*(run.config for run in runs))
    own = [c for c in df.columns if c not in config_keys] + [c for c in BASE_COLUMNS if c not in df.columns]
    return df.reindex(columns=own + sorted(config_keys & set(df.columns)))


def load_events(*paths, level: str = "rounds") -> pd.DataFrame:
    """One row per round, intervention or trace event (`level`), with the problem's id, setting and run."""
    if level not in LEVELS:
        raise ReasoningError(f"level={level!r} is not one of {LEVELS}: pick one of those")
    rows = [
        {"id": r.get("id"), "setting": r.get("setting"), "run": run.label, "run_dir": str(run.dir), **event}
        for run in _runs(paths)
        for r in run.records
        for event in r.get(level) or []
    ]
    return pd.DataFrame(rows, columns=None if rows else ["id", "setting", "run", "run_dir"])


def find_run_dirs(paths) -> list[Path]:
    """Every folder holding a results.jsonl at or below each path, sorted."""
    found = set()
    for path in map(Path, paths):
        if path.is_file():
            path = path.parent
        if not path.is_dir():
            raise ReasoningError(f"{path} does not exist: pass a run folder, a sweep folder or a folder holding them")
        here = {f.parent for f in path.rglob("results.jsonl")}
        if not here:
            raise ReasoningError(f"no results.jsonl at or below {path}: pass the output folder of a run or sweep")
        found |= here
    return sorted(found)


def read_config(run_dir: Path) -> dict:
    """The run's resolved config, flattened to dotted keys, `_target_` keys dropped."""
    return flatten(_read_yaml(run_dir))


def _read_yaml(run_dir: Path) -> dict:
    for candidate in (run_dir / "config.yaml", run_dir / ".hydra" / "config.yaml"):
        if candidate.is_file():
            return yaml.safe_load(candidate.read_text()) or {}
    log.warning("%s: no config.yaml; config columns will be empty", run_dir)
    return {}


def _with_resolved_dtypes(raw: dict, run_dir: Path) -> dict:
    """A role's `dtype: fast` read as what it ran in on that machine (environment.json), so a run in
    bf16 reads as bf16 whether its config said `fast` or `bfloat16`. Runs recorded before
    `dtype_resolved` existed: bfloat16 on a CPU with native bf16, else float32 (what `fast` chose)."""
    try:
        env = json.loads((run_dir / "environment.json").read_text())
    except (OSError, ValueError):
        return raw
    native = (env.get("hardware") or {}).get("cpu_native_bf16")
    for role, node in raw.items():
        if not (isinstance(node, dict) and node.get("dtype") == "fast"):
            continue
        placed = (env.get("models") or {}).get(role) or {}
        if placed.get("dtype_resolved"):
            raw = {**raw, role: {**node, "dtype": placed["dtype_resolved"]}}
        elif not placed.get("gpus") and native is not None:
            raw = {**raw, role: {**node, "dtype": "bfloat16" if native else "float32"}}
    return raw


def _runs(paths) -> list[Run]:
    runs = []
    for d in find_run_dirs(paths):
        raw = _with_resolved_dtypes(_read_yaml(d), d)
        # One rule for duplicates everywhere (resume, summary, collect, load): the first record of a problem.
        run = Run(d, flatten(raw), identity(raw), first_of_each(read_records(d / "results.jsonl"), d))
        if raw:
            implied = {**IMPLIED, **IMPLIED_FOR_SETTING.get(_setting_name(run), {})}
            run.config = {**implied, **run.config}
            run.identity = {**implied, **run.identity}
        runs.append(run)
    _label(runs)
    return runs


def _problem_row(record: dict, run: Run) -> dict:
    row = flat_record(record)  # teacher-free settings read as zero teacher cost
    row.update(run=run.label, run_dir=str(run.dir))
    row.update({k: v for k, v in run.config.items() if k not in row})
    return row


def _setting_name(run: Run) -> str:
    name = run.config.get("setting.name") or (run.records[0].get("setting") if run.records else None)
    return str(name or run.dir.name)


def _group_key(run: Run):
    """Shards of one run share a parent folder and an identity (the one `collect` and resume use).

    The setting name is part of the key for configs that lack `_target_` (baseline and skyline have
    the same knobs).
    """
    if (run.config.get("run.num_shards") or 1) <= 1:
        return str(run.dir)
    return (str(run.dir.parent), _setting_name(run), json.dumps(run.identity, sort_keys=True, default=str))


def _label(runs: list[Run]) -> None:
    """Label each run by its setting plus the config values that differ between runs of that setting."""
    groups: dict = {}
    for run in runs:
        groups.setdefault(_group_key(run), []).append(run)
    by_setting: dict = {}
    for key, members in groups.items():
        by_setting.setdefault(_setting_name(members[0]), []).append(key)
    for setting, keys in by_setting.items():
        configs = [groups[key][0].identity for key in keys]
        names = sorted({k for c in configs for k in c})
        differing = [k for k in names
                     if len({json.dumps(c[k], default=str) for c in configs if _tells(c, k)}) > 1]
        labels = [_describe(setting, config, [k for k in differing if _tells(config, k, differing)])
                  for config in configs]
        # Same config in different folders (repeats): tell them apart by folder, then by number.
        labels = [f"{label} [{_folder(groups[key][0])}]" if labels.count(label) > 1 else label
                  for key, label in zip(keys, labels)]
        for i, (key, label) in enumerate(zip(keys, labels)):
            if labels.count(label) > 1:
                label = f"{label} #{labels[:i].count(label) + 1}"
            for run in groups[key]:
                run.label = label


def _folder(run: Run) -> str:
    return run.dir.parent.name if isinstance(_group_key(run), tuple) else run.dir.name


def _tells(config: dict, key: str, differing: list[str] = ()) -> bool:
    """Whether a config's value of `key` says something about that run: it has the key (older runs lack
    newer ones), the key is used (a role's `vllm` knobs only on vLLM; its `backend` only where it differs
    from the run's), and no plainer key already says it (a template's hash where its name differs)."""
    if key not in config or key == "dataset.limit":  # how many were asked for: the n column says how many ran
        return False
    role, _, rest = key.partition(".")
    if role in ("student", "teacher") and rest.startswith("vllm."):
        return config.get(f"{role}.backend") == "vllm"
    if role in ("student", "teacher") and rest == "backend":
        return config[key] != config.get("backend.name")
    if key.startswith("prompts.") and key.endswith(".sha256"):
        return key.removesuffix(".sha256") + ".name" not in differing
    if role == "setting" and "setting.criterion" in config:  # speculative: a knob of another criterion
        return rest not in unused_knobs(config["setting.criterion"])
    return True


def _describe(setting: str, config: dict, differing: list[str]) -> str:
    knobs = [f"{k.removeprefix('setting.')}={_short(k, config.get(k))}" for k in differing]
    return f"{setting} ({', '.join(knobs)})" if knobs else setting


def _short(key: str, value):
    return value[:8] if key.endswith(".sha256") and isinstance(value, str) else value  # enough to tell apart
