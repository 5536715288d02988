"""The runner: build the parts from the config, solve the problems batch by batch, write the results.

Resumable by problem id: records already in results.jsonl are skipped, whatever the batch size or
hardware of the earlier run.
"""
from __future__ import annotations

import errno
import inspect
import json
import logging
import signal
import threading
from contextlib import contextmanager, suppress
from datetime import datetime, timezone
from pathlib import Path

from hydra.errors import InstantiationException
from hydra.utils import get_class
from hydra.utils import instantiate as hydra_instantiate
from omegaconf import DictConfig, OmegaConf
from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from reasoning import progress
from reasoning.environment import describe_environment, plan_placements
from reasoning.errors import ReasoningError, RunStopped
from reasoning.models import seed_all
from reasoning.models.memory import free_memory, is_out_of_memory
from reasoning.models.placement import forget_placements
from reasoning.results import ResultsWriter, read_records, summarize
from reasoning.results.identity import RESUME, changed_prompt, differing, flatten, prompt_hashes
from reasoning.results.writer import SCHEMA_VERSION, first_of_each, lock_folder
from reasoning.validate import refuse_nested, validate

log = logging.getLogger(__name__)
ROLES = ("student", "teacher")


def run(cfg: DictConfig, out_dir: str | Path | None = None) -> dict:
    """Run the configured setting over the dataset into `out_dir` (default: Hydra's output dir).

    A bad knob fails here before the folder or any model is touched; an interrupt or a failed write
    (disk full, read-only) stops the run with a one-line `RunStopped` saying what is saved.
    """
    validate(cfg)
    out = Path(out_dir) if out_dir else _hydra_output_dir()
    refuse_nested(out)  # also for sweep jobs and direct calls, which CheckFirst does not see
    total: list[int] = []  # the run's problem count, once the dataset is loaded
    try:
        out.mkdir(parents=True, exist_ok=True)
        with lock_folder(out), _terminate_as_interrupt():
            return _run_locked(cfg, out, total)
    except Terminated:
        raise RunStopped(f"terminated (SIGTERM) {_saved(out, total)}; rerun the same command to resume",
                         exit_code=143) from None
    except KeyboardInterrupt:
        raise RunStopped(f"interrupted {_saved(out, total)}; rerun the same command to resume", exit_code=130) from None
    except OSError as error:
        raise RunStopped(f"{_os_problem(error, out)}; stopped {_saved(out, total)}; {_os_fix(error)}, then rerun "
                         "the same command to resume") from None


class Terminated(KeyboardInterrupt):
    """SIGTERM (`kill`, `scancel`), raised where the run is, so it stops as on Ctrl-C: records kept, engines stopped."""


@contextmanager
def _terminate_as_interrupt():
    """Unless someone else handles SIGTERM (submitit does, in SLURM jobs), turn it into `Terminated`."""
    def terminate(signum, frame):
        raise Terminated()

    main_thread = threading.current_thread() is threading.main_thread()
    if not main_thread or signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        yield
        return
    signal.signal(signal.SIGTERM, terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _run_locked(cfg: DictConfig, out: Path, total: list[int]) -> dict:
    _forget_empty_results(out)
    _record_config(cfg, out)
    problems = _shard(instantiate(cfg.dataset), cfg.run.num_shards, cfg.run.shard)
    _check_problems(problems, cfg)
    total.append(len(problems))
    writer = ResultsWriter(out / "results.jsonl")
    stopped = True
    try:
        todo = [p for p in problems if p.id not in writer.done_ids]
        log.info("%d problems, %d already done, %d to solve -> %s", len(problems), len(problems) - len(todo), len(todo), out)
        if todo:
            models = _load_models(cfg)
            try:
                setting = instantiate(cfg.setting, **models)
                grader = instantiate(cfg.grader)
                _solve_all(setting, grader, todo, writer, cfg)
            finally:
                for model in models.values():
                    model.close()  # a vLLM engine stops here, on success, error or interrupt alike
        stopped = False
    finally:
        writer.close()
        if stopped:  # after a stop too, so that it never disagrees with results.jsonl; the stop's error wins
            with suppress(Exception):
                _write_summary(out, writer.path, finished=False)

    records, summary = _write_summary(out, writer.path, finished=True)
    if len(records) > len(problems):
        log.info("%s holds %d problems, %d of them in this run's selection; summary.json, load() and the report "
                 "cover all %d", out, len(records), len(problems), len(records))
    log.info("accuracy %.3f on %d problems; results in %s", summary["accuracy"] or 0.0, summary["n"], out)
    return {**summary, "run_dir": str(out)}


def _solve_all(setting, grader, todo, writer, cfg) -> None:
    size = cfg.run.batch_size
    bar = tqdm(total=len(todo), desc=setting.name, unit="problem", disable=not cfg.run.progress, mininterval=1)
    # Log lines go through the bar (printed above it, not onto its line); the clock ticks between rounds.
    text = _BarText(bar)
    with logging_redirect_tqdm(), _ticking(bar, text):
        try:
            for start in range(0, len(todo), size):
                batch = todo[start:start + size]
                with progress.listen(text.round_done, lambda done: _advance(bar, start + done)):
                    traces = _solve(setting, batch, cfg.seed)  # a log line per round of the setting's loop
                correct = 0
                for trace in traces:
                    record = _to_record(trace, setting.name, grader)
                    writer.write(record)
                    correct += record["correct"]
                _advance(bar, start + len(batch))
                log.info("batch %d-%d: %d/%d correct", start + 1, start + len(batch), correct, len(batch))
        finally:
            bar.close()  # before any error is printed: the bar must not be the last line a user sees


class _BarText:
    """The bar's text: what a model is writing right now (redrawn every second), then the last round's status."""

    def __init__(self, bar):
        self.bar, self.round = bar, ""

    def round_done(self, line: str) -> None:
        log.info("%s", line)
        self.round = line.split(" ", 1)[-1]  # "round 2: 1/5 problems active; ..."
        self.show()

    def show(self) -> None:
        self.bar.set_postfix_str("; ".join(p for p in (progress.activity(), self.round) if p), refresh=True)


def _advance(bar, done: int) -> None:
    """Move the bar to `done` problems (a setting reports its finished problems after each round)."""
    if done > bar.n:
        bar.update(done - bar.n)
    else:
        bar.refresh()


@contextmanager
def _ticking(bar, text: _BarText, every: float = 1.0):
    """Redraw the bar every second, so elapsed time and the tokens being written move during a long call."""
    stop = threading.Event()

    def tick():
        while not stop.wait(every):
            text.show()

    thread = threading.Thread(target=tick, daemon=True, name="progress-clock")
    if not bar.disable:
        thread.start()
    try:
        yield
    finally:
        stop.set()
        if thread.is_alive():
            thread.join()


def _solve(setting, batch, seed: int) -> list:
    """Solve a batch; one that runs out of GPU memory is split in half and retried, down to one problem.
    Each part is seeded as its own batch, so results equal a run with the smaller batch size."""
    _seed(seed, batch)
    try:
        return setting.solve(batch)
    except Exception as error:  # noqa: BLE001 - only out-of-memory is handled, the rest goes on
        if len(batch) == 1 or not is_out_of_memory(error):
            raise
    half = (len(batch) + 1) // 2
    log.warning("out of GPU memory on a batch of %d (%s...); retrying as %d + %d", len(batch), batch[0].id,
                half, len(batch) - half)
    free_memory()
    return _solve(setting, batch[:half], seed) + _solve(setting, batch[half:], seed)


def _to_record(trace, setting_name: str, grader) -> dict:
    problem = trace.problem
    grade = grader(trace.response, problem.gold)
    for attempt in trace.attempts:  # what the setting asked to be graded (feedback: each round's answer)
        attempt_grade = grader(attempt["response"], problem.gold)
        attempt.update(answer=attempt_grade.extracted, correct=attempt_grade.correct,
                       strict_correct=attempt_grade.strict_correct)
    return {
        "schema_version": SCHEMA_VERSION, "id": problem.id, "question": problem.question, "gold": problem.gold,
        "setting": setting_name,
        "response": trace.response, "answer": grade.extracted, "correct": grade.correct,
        "strict_correct": grade.strict_correct, "extraction_rule": grade.rule,
        "placeholder": grade.placeholder, "timed_out": grade.timed_out,
        "cost": {role: cost.to_dict() for role, cost in trace.cost.items()},
        "trace": trace.events, **trace.extra,
    }


def _load_models(cfg) -> dict:
    """Load only the models the setting's class asks for (baseline never loads the teacher)."""
    wanted = inspect.signature(get_class(cfg.setting._target_)).parameters
    models = {}
    try:
        for role in ROLES:
            if role in wanted:
                models[role] = instantiate(cfg[role], role=role, **_model_mode(cfg))
    except BaseException:
        for model in models.values():  # the student's engine must not outlive a teacher that failed to load
            model.close()
        raise
    return models


def _model_mode(cfg) -> dict:
    """How every model computes and samples: the run decides, not a model preset (see validate.MODEL_MODE)."""
    return {"batch_invariant": bool(cfg.run.get("batch_invariant", False)), "seed": int(cfg.seed)}


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


def _check_problems(problems, cfg) -> None:
    """A run with nothing to solve is a mistake, not a success; a limit beyond the file is said."""
    if not problems:
        where = f"dataset.path={cfg.dataset.path}" if cfg.dataset.get("path") else f"dataset {cfg.dataset._target_}"
        shard = f" for run.shard={cfg.run.shard} of run.num_shards={cfg.run.num_shards}" if cfg.run.num_shards > 1 else ""
        raise ReasoningError(f"{where} gives no problems{shard}; check the file, dataset.limit and run.num_shards")
    limit = cfg.dataset.get("limit")
    if limit is not None and cfg.run.num_shards == 1 and len(problems) < limit:
        log.warning("dataset.limit=%d but the dataset has only %d problems; running those", limit, len(problems))


def _forget_empty_results(out: Path) -> None:
    """A folder whose run failed before its first record takes the corrected config: nothing to protect."""
    results = out / "results.jsonl"
    if results.exists() and not read_records(results):
        results.unlink()


def _write_summary(out: Path, path: Path, finished: bool) -> tuple[list[dict], dict]:
    """summary.json covers what the folder holds, as load() and the report do, whatever this run's limit;
    `finished` is false after a stop (collect refuses such a shard without --partial)."""
    records = first_of_each(read_records(path), path)
    summary = {**summarize(records), "finished": finished}
    partial = out / "summary.json.partial"  # replaced whole: a full disk cannot leave a torn summary.json
    try:
        partial.write_text(json.dumps(summary, indent=2) + "\n")
        partial.replace(out / "summary.json")
    finally:
        partial.unlink(missing_ok=True)
    return records, summary


def _saved(out: Path, total: list[int]) -> str:
    if not total:
        return "before any problem was solved"
    done = len({r["id"] for r in read_records(out / "results.jsonl")})
    return f"after {min(done, total[0])} of {total[0]} problems (saved in {out})"


def _os_problem(error: OSError, out: Path) -> str:
    names = {errno.ENOSPC: "disk full", errno.EROFS: "read-only file system", errno.EDQUOT: "disk quota exceeded",
             errno.ENOTDIR: "not a directory", errno.EACCES: "permission denied"}
    return f"cannot write {error.filename or out}: {names.get(error.errno, error.strerror or str(error))}"


def _os_fix(error: OSError) -> str:
    if error.errno in (errno.ENOSPC, errno.EDQUOT):
        return "free some space"
    return "choose a writable hydra.run.dir"


def _seed(seed: int, batch) -> None:
    """Sampled tokens come from per-row generators the models seed from `seed` and each row's prompt
    (`hf.row_seed`), so no batch or resume point changes them; the global seed is reset per batch so
    anything else random starts alike however the run was split."""
    seed_all(seed)


def _record_config(cfg: DictConfig, out: Path) -> None:
    """Save the resolved config (with its prompts' hashes) and environment; refuse to resume into a folder
    of another config. A resume keeps the first run's config.yaml (only dataset.limit may grow) and
    appends what it ran with to history.jsonl, so the folder keeps saying how its records were made."""
    resolved = OmegaConf.to_container(cfg, resolve=True)
    resolved["prompts"] = prompt_hashes(resolved["setting"])
    saved_path = out / "config.yaml"
    saved, differs = None, {}
    if saved_path.exists() and (out / "results.jsonl").exists():
        saved = OmegaConf.to_container(OmegaConf.load(saved_path))
        _check_resume(saved, resolved, out)
        differs = {k: flatten(resolved).get(k) for k in differing(saved, resolved, ignore=("hydra",))}
        saved.setdefault("dataset", {})["limit"] = resolved["dataset"].get("limit")
    saved_path.write_text(OmegaConf.to_yaml(saved or resolved))
    forget_placements()  # this run's models are placed afresh
    environment = describe_environment(plan_placements(resolved))  # placement errors surface before loading
    environment["batch_invariant"] = bool(resolved["run"].get("batch_invariant", False))
    environment["schema_version"] = SCHEMA_VERSION
    (out / "environment.json").write_text(json.dumps(environment, indent=2) + "\n")
    _append_history(out, saved is not None, differs, environment)


def _check_resume(saved: dict, resolved: dict, out: Path) -> None:
    knob = changed_prompt(saved.get("prompts") or {}, resolved["prompts"])
    if knob:
        name = resolved["prompts"][knob]["name"]
        raise ReasoningError(f"{out} holds results made with another text of prompt template {name} "
                             f"(setting.{knob}); restore that text or choose a new hydra.run.dir")
    changed = differing(saved, resolved, ignore=RESUME)  # keys a resume may change
    if changed:
        raise ReasoningError(f"{out} holds results of another config (differs in: {', '.join(changed)}); "
                             "choose a new hydra.run.dir or delete the folder")


def _append_history(out: Path, resumed: bool, differs: dict, environment: dict) -> None:
    """One line per start of a run into this folder: whether it resumed (after how many records) and the
    keys it ran with that differ from config.yaml (batch size, progress, a raised dataset.limit)."""
    entry = {"started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
             "resumed_after": len(read_records(out / "results.jsonl")) if resumed else 0,
             "differs_from_config": differs, "git": environment.get("git"),
             "batch_invariant": environment["batch_invariant"]}
    with open(out / "history.jsonl", "a", encoding="utf-8") as history:
        history.write(json.dumps(entry, default=str) + "\n")


def _hydra_output_dir() -> Path:
    from hydra.core.hydra_config import HydraConfig

    return Path(HydraConfig.get().runtime.output_dir)
