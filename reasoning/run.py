"""The runner: build the parts from the config, solve the problems batch by batch, write the results.

Resumable by problem id: records already in results.jsonl are skipped, whatever the batch size or
hardware of the earlier run.
"""
from __future__ import annotations

import inspect
import json
import logging
import zlib
from pathlib import Path

from hydra.errors import InstantiationException
from hydra.utils import get_class
from hydra.utils import instantiate as hydra_instantiate
from omegaconf import DictConfig, OmegaConf
from tqdm import tqdm

from reasoning.environment import describe_environment, plan_placements
from reasoning.errors import ReasoningError
from reasoning.models import seed_all
from reasoning.models.placement import forget_placements
from reasoning.results import ResultsWriter, read_records, summarize
from reasoning.results.identity import RESUME, differing

log = logging.getLogger(__name__)
ROLES = ("student", "teacher")
# Keys that may change between a run and its resume without changing any finished result.
RESUMABLE_KEYS = RESUME


def run(cfg: DictConfig, out_dir: str | Path | None = None) -> dict:
    """Run the configured setting over the dataset into `out_dir` (default: Hydra's output dir)."""
    out = Path(out_dir) if out_dir else _hydra_output_dir()
    out.mkdir(parents=True, exist_ok=True)
    _record_config(cfg, out)

    problems = _shard(instantiate(cfg.dataset), cfg.run.num_shards, cfg.run.shard)
    writer = ResultsWriter(out / "results.jsonl")
    todo = [p for p in problems if p.id not in writer.done_ids]
    log.info("%d problems, %d already done, %d to solve -> %s", len(problems), len(problems) - len(todo), len(todo), out)
    if todo:
        setting = _build_setting(cfg)
        grader = instantiate(cfg.grader)
        _solve_all(setting, grader, todo, writer, cfg)
    writer.close()

    wanted = {p.id for p in problems}
    summary = summarize([r for r in read_records(writer.path) if r["id"] in wanted])
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    log.info("accuracy %.3f on %d problems; results in %s", summary["accuracy"] or 0.0, summary["n"], out)
    return {**summary, "run_dir": str(out)}


def _solve_all(setting, grader, todo, writer, cfg) -> None:
    size = cfg.run.batch_size
    bar = tqdm(total=len(todo), desc=setting.name, unit="problem", disable=not cfg.run.progress)
    for start in range(0, len(todo), size):
        batch = todo[start:start + size]
        _seed(cfg.seed, batch)
        correct = 0
        for trace in setting.solve(batch):
            record = _to_record(trace, setting.name, grader)
            writer.write(record)
            correct += record["correct"]
        bar.update(len(batch))
        log.info("batch %d-%d: %d/%d correct", start + 1, start + len(batch), correct, len(batch))
    bar.close()


def _to_record(trace, setting_name: str, grader) -> dict:
    problem = trace.problem
    grade = grader(trace.response, problem.gold)
    for attempt in trace.attempts:  # what the setting asked to be graded (feedback: each round's answer)
        attempt_grade = grader(attempt["response"], problem.gold)
        attempt.update(answer=attempt_grade.extracted, correct=attempt_grade.correct,
                       strict_correct=attempt_grade.strict_correct)
    return {
        "id": problem.id, "question": problem.question, "gold": problem.gold, "setting": setting_name,
        "response": trace.response, "answer": grade.extracted, "correct": grade.correct,
        "strict_correct": grade.strict_correct, "extraction_rule": grade.rule,
        "placeholder": grade.placeholder, "timed_out": grade.timed_out,
        "cost": {role: cost.to_dict() for role, cost in trace.cost.items()},
        "trace": trace.events, **trace.extra,
    }


def _build_setting(cfg):
    """Load only the models the setting's class asks for (baseline never loads the teacher)."""
    wanted = inspect.signature(get_class(cfg.setting._target_)).parameters
    models = {role: instantiate(cfg[role], role=role) for role in ROLES if role in wanted}
    return instantiate(cfg.setting, **models)


def instantiate(node, **kwargs):
    """hydra's instantiate, but our own one-line errors come through unwrapped."""
    try:
        return hydra_instantiate(node, **kwargs)
    except InstantiationException as error:
        if isinstance(error.__cause__, ReasoningError):
            raise error.__cause__ from None
        raise


def _shard(problems, num_shards: int, shard: int):
    ids = [p.id for p in problems]
    if len(set(ids)) != len(ids):
        raise ReasoningError("the dataset has duplicate problem ids; ids must be unique for results to resume")
    if not 0 <= shard < num_shards:
        raise ReasoningError(f"run.shard={shard} is outside 0..{num_shards - 1} (run.num_shards={num_shards})")
    return problems[shard::num_shards]


def _seed(seed: int, batch) -> None:
    """Seed per batch from its first problem id, so sampling does not depend on what ran before."""
    seed_all(seed + zlib.crc32(batch[0].id.encode()) % 100_000)


def _record_config(cfg: DictConfig, out: Path) -> None:
    """Save the resolved config and environment; refuse to resume into a folder of another config."""
    resolved = OmegaConf.to_container(cfg, resolve=True)
    saved_path = out / "config.yaml"
    if saved_path.exists() and (out / "results.jsonl").exists():
        changed = differing(OmegaConf.to_container(OmegaConf.load(saved_path)), resolved, ignore=RESUMABLE_KEYS)
        if changed:
            raise ReasoningError(f"{out} holds results of another config (differs in: {', '.join(changed)}); "
                                 "choose a new hydra.run.dir or delete the folder")
    saved_path.write_text(OmegaConf.to_yaml(resolved))
    forget_placements()  # this run's models are placed afresh
    environment = describe_environment(plan_placements(resolved))  # placement errors surface before loading
    (out / "environment.json").write_text(json.dumps(environment, indent=2) + "\n")


def _hydra_output_dir() -> Path:
    from hydra.core.hydra_config import HydraConfig

    return Path(HydraConfig.get().runtime.output_dir)
