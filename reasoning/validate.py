"""Check the whole config before anything loads: every bad knob is a one-line `ReasoningError` that
names the key, the value and what is allowed.

The rules come from where each knob is consumed: a `_target_`'s signature and its annotations
(`Annotated[int, Range(min=1)]`, `Literal["generate", "score"]`, `Annotated[str, PROMPT]`), plus the
tables below for the knobs that have no signature of their own (`run.*`, a model's `generation`) and
for the checks that look at the machine or the disk (devices, dataset files, model folders).

    max_new_tokens: Annotated[int, Range(min=1)] = 512   # in a setting's __init__
"""
from __future__ import annotations

import inspect
import math
import os
import sys
import typing
from dataclasses import dataclass
from pathlib import Path
from types import NoneType, UnionType
from typing import Annotated, Any, Literal

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from reasoning.data.loading import POLICIES
from reasoning.errors import ReasoningError

ROLES = ("student", "teacher")


@dataclass(frozen=True)
class Range:
    """A number's allowed interval; `above` is an exclusive lower bound (temperature > 0)."""

    min: float | None = None
    max: float | None = None
    above: float | None = None

    def holds(self, value) -> bool:
        return ((self.min is None or value >= self.min) and (self.max is None or value <= self.max)
                and (self.above is None or value > self.above))

    def describe(self) -> str:
        parts = [f">= {_show(self.min)}" if self.min is not None else "",
                 f"> {_show(self.above)}" if self.above is not None else "",
                 f"<= {_show(self.max)}" if self.max is not None else ""]
        return " and ".join(p for p in parts if p)


@dataclass(frozen=True)
class Prompt:
    """Marks a knob naming a prompt template: it must exist, parse (no bare `$`) and use every field in
    `needs`: a template without `$question` would run to accuracy 0 with the model never seeing the problem.

        answer_prompt: Annotated[str, Prompt("question")] = "student_answer"
    """

    needs: tuple[str, ...] = ()

    def __init__(self, *needs: str):
        object.__setattr__(self, "needs", needs)

    def __repr__(self) -> str:
        return f"Prompt({', '.join(self.needs)})"


PROMPT = Prompt()  # a template with no required field
Count = Annotated[int, Range(min=1)]  # a budget or size that must allow at least one

# Knobs without a signature of their own.
RUN = {"batch_size": Count, "num_shards": Count, "shard": Annotated[int, Range(min=0)], "progress": bool,
       "batch_invariant": bool}
TOP = {"seed": int}
# What the runner hands every model loader from run.batch_invariant and seed (not a preset's knobs).
MODEL_MODE = ("batch_invariant", "seed")
GENERATION = {"do_sample": bool, "temperature": Annotated[float, Range(min=0)],
              "top_p": Annotated[float, Range(above=0, max=1)], "repetition_penalty": Annotated[float, Range(above=0)]}
# A model preset's `vllm:` engine knobs (reasoning.models.vllm_placement).
VLLM = {"tensor_parallel_size": Count, "gpu_memory_utilization": Annotated[float, Range(above=0, max=1)],
        "max_model_len": Count | None, "kv_cache_memory_bytes": Count | None, "enforce_eager": bool,
        "block_size": Count | None}
# Ranges for knobs whose functions (data, grading, model loaders) declare plain types.
RANGES = {"dataset.limit": Count | None, "dataset.n": Annotated[int, Range(min=0)],
          "dataset.on_malformed": Literal[POLICIES],
          "grader.timeout_seconds": Annotated[float, Range(above=0)], "prefix_cache_tokens": Count}


def validate(cfg: DictConfig) -> None:
    """Raise a one-line ReasoningError for the first bad knob of the run, setting, dataset, grader or models."""
    config = _resolved(cfg)
    _check_table(config, TOP, "")
    _check_table(config.get("run") or {}, RUN, "run.")
    run = config["run"]
    if run["shard"] >= run["num_shards"]:
        raise ReasoningError(f"run.shard={run['shard']} is outside 0..{run['num_shards'] - 1} "
                             f"(run.num_shards={run['num_shards']}); use a shard index below run.num_shards")
    setting = _check_target(config, "setting")
    _check_target(config, "dataset")
    _check_dataset(config["dataset"])
    _check_target(config, "grader")
    roles = [role for role in ROLES if role in inspect.signature(setting).parameters]
    for role in roles:
        _check_target(config, role, skip=("role", *MODEL_MODE))
        _check_model(config[role], role)
    _check_placement(config, roles)


def _resolved(cfg) -> dict:
    container = {k: v for k, v in cfg.items() if k != "hydra"} if isinstance(cfg, DictConfig) else cfg
    try:
        return OmegaConf.to_container(OmegaConf.create(container), resolve=True)
    except Exception as error:  # an interpolation that does not resolve: OmegaConf names the key
        raise ReasoningError(f"the config does not resolve: {str(error).splitlines()[0]}") from None


# --- one knob against its type ---------------------------------------------------------------------
def check_value(key: str, value, annotation) -> None:
    """`value` must fit `annotation` (int, float, str, bool, None, Literal, unions, list, dict, Annotated)."""
    if not _fits(value, annotation):
        raise ReasoningError(f"{key}={_show(value)} is not allowed; use {describe(annotation)}")
    for marker in _markers(annotation):
        if isinstance(marker, Prompt) and isinstance(value, str):
            _check_prompt(key, value, marker.needs)


def _check_prompt(key: str, value: str, needs: tuple[str, ...]) -> None:
    from reasoning.prompts import load_template, template_fields

    try:
        fields = template_fields(load_template(value))
    except ReasoningError as error:
        raise ReasoningError(f"{key}={value}: {error}") from None
    missing = [f"${name}" for name in needs if name not in fields]
    if missing:
        raise ReasoningError(f"{key}={value} does not use {', '.join(missing)}, so the model would never see it; "
                             f"add {', '.join(missing)} to the template")


def check_arguments(target, group: str, values: dict) -> None:
    """The same checks for code that builds a class directly (a notebook, a test) as for a config:
    each knob against its annotation, then the class's own cross-knob rules (`check_knobs`)."""
    hints = _hints(target)
    for name, value in values.items():
        if name in hints:
            check_value(f"{group}.{name}", value, hints[name])
    _check_knobs(target, values)


def _check_knobs(target, values: dict) -> None:
    """A class may declare rules between its knobs as `check_knobs(knobs)` (a classmethod that raises a
    ReasoningError); it gets every knob, the signature's defaults filled in, before anything loads."""
    rule = getattr(target, "check_knobs", None)
    if rule is None:
        return
    parameters = inspect.signature(target).parameters
    knobs = {name: p.default for name, p in parameters.items()
             if p.default is not inspect.Parameter.empty and name not in ROLES}
    rule({**knobs, **{k: v for k, v in values.items() if not (k.startswith("_") and k.endswith("_"))}})


def _markers(annotation) -> list:
    """The Annotated metadata of an annotation, also inside a union (`Annotated[str, PROMPT] | None`)."""
    if typing.get_origin(annotation) is Annotated:
        return [*annotation.__metadata__, *_markers(typing.get_args(annotation)[0])]
    return [m for a in typing.get_args(annotation) for m in _markers(a)]


def _fits(value, annotation) -> bool:
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if annotation is Any or annotation is inspect.Parameter.empty:
        return True
    if origin is Annotated:
        ranges = [m for m in annotation.__metadata__ if isinstance(m, Range)]
        return _fits(value, args[0]) and all(r.holds(value) for r in ranges)
    if origin in (typing.Union, UnionType):
        return any(_fits(value, a) for a in args)
    if origin is Literal:
        return value in args
    if annotation in (None, NoneType):
        return value is None
    if annotation is bool:
        return isinstance(value, bool)
    if annotation is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if annotation is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if annotation is str:
        return isinstance(value, str)
    if origin is list or annotation is list:
        return isinstance(value, list) and all(_fits(v, args[0]) for v in value) if args else isinstance(value, list)
    if origin is dict or annotation is dict:
        return isinstance(value, dict)
    return True  # a class we cannot check from a config value (a model passed in)


def describe(annotation) -> str:
    """What a person may write for this annotation, e.g. "a whole number >= 1 or null"."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is Annotated:
        ranges = " ".join(m.describe() for m in annotation.__metadata__ if isinstance(m, Range))
        return f"{describe(args[0])} {ranges}".strip()
    if origin in (typing.Union, UnionType):
        return " or ".join(describe(a) for a in args)
    if origin is Literal:
        return "one of " + ", ".join(map(_show, args))
    if origin is list or annotation is list:
        return f"a list of {describe(args[0]).removeprefix('a ')}s" if args else "a list"
    names = {bool: "true or false", int: "a whole number", float: "a number", str: "a string", None: "null",
             NoneType: "null", dict: "a mapping"}
    return names.get(annotation, getattr(annotation, "__name__", str(annotation)))


def _show(value) -> str:
    """A value as it is written on the command line: null, true, 3, abc."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _check_table(node: dict, table: dict, prefix: str) -> None:
    for name, annotation in table.items():
        if name in node:
            check_value(prefix + name, node[name], annotation)


# --- a `_target_` node against its signature -------------------------------------------------------
def _check_target(config: dict, group: str, skip: tuple[str, ...] = ()):
    """Every knob of `config[group]` must be a parameter of its `_target_` and fit its annotation."""
    node = config.get(group)
    if not isinstance(node, dict) or "_target_" not in node:
        raise ReasoningError(f"{group} has no _target_; choose one with {group}=NAME (see python -m reasoning --help)")
    target = _locate(group, node["_target_"])
    parameters = inspect.signature(target).parameters
    hints = _hints(target)
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())
    for name, value in node.items():
        if name.startswith("_") and name.endswith("_") or name in skip:
            continue
        if name not in parameters and not takes_any:
            knobs = ", ".join(p for p in parameters if p not in ROLES + skip)
            raise ReasoningError(f"{group}.{name} is not a knob of {node['_target_']}; its knobs are {knobs}")
        annotation = RANGES.get(f"{group}.{name}", RANGES.get(name, hints.get(name, inspect.Parameter.empty)))
        check_value(f"{group}.{name}", value, annotation)
    _check_knobs(target, {k: v for k, v in node.items() if k not in skip})
    return target


def _locate(group: str, path: str):
    from hydra.utils import get_object

    try:
        return get_object(path)
    except Exception as error:
        raise ReasoningError(f"{group}._target_={path} cannot be imported ({str(error).splitlines()[0]}); "
                             f"choose {group}=NAME from conf/{group}/") from None


def _hints(target) -> dict:
    """The target's resolved annotations (Annotated kept); names that do not resolve are left unchecked."""
    function = target.__init__ if inspect.isclass(target) else target
    try:
        return typing.get_type_hints(function, include_extras=True)
    except Exception:  # e.g. a name imported only for type checking
        hints = {}
        for name, text in getattr(function, "__annotations__", {}).items():
            try:
                hints[name] = eval(text, function.__globals__) if isinstance(text, str) else text  # noqa: S307
            except Exception:
                continue
        return hints


# --- checks that look at the disk or the machine ---------------------------------------------------
def _check_dataset(node: dict) -> None:
    limit, n = node.get("limit"), node.get("n")
    if limit is not None and n is not None and limit > n:
        raise ReasoningError(f"dataset.limit={limit} but dataset.n={n} generates only {n} problems; "
                             f"lower dataset.limit or raise dataset.n")
    path = node.get("path")
    if path is None:
        return
    from reasoning.data.files import SUFFIXES

    file = Path(path).expanduser()
    if file.is_dir():
        raise ReasoningError(f"dataset.path={path} is a folder; set it to a {', '.join(SUFFIXES)} file in it")
    if not file.is_file():
        raise ReasoningError(f"dataset.path={path} does not exist; set it to a {', '.join(SUFFIXES)} file "
                             "(or null to load from the hub)")
    if file.suffix not in SUFFIXES:
        raise ReasoningError(f"dataset.path={path} has suffix {file.suffix or '(none)'}; use a {', '.join(SUFFIXES)} file")
    if file.stat().st_size == 0 or (file.suffix != ".parquet" and file.stat().st_size < 4096
                                    and not file.read_text(errors="replace").strip()):
        raise ReasoningError(f"dataset.path={path} is empty; point it at a file with one problem per row")


def _check_model(node: dict, role: str) -> None:
    generation = node.get("generation") or {}
    for name in generation:
        if name not in GENERATION:
            raise ReasoningError(f"{role}.generation.{name} is not a generation knob; use {', '.join(GENERATION)}")
    _check_table(generation, GENERATION, f"{role}.generation.")
    if generation.get("do_sample") and generation.get("temperature", 1.0) <= 0:
        raise ReasoningError(f"{role}.generation.do_sample=true with {role}.generation.temperature="
                             f"{_show(generation['temperature'])} cannot sample; use a temperature > 0, "
                             f"or do_sample=false for greedy decoding")
    engine = node.get("vllm") or {}
    for name in engine:
        if name not in VLLM:
            raise ReasoningError(f"{role}.vllm.{name} is not a vLLM engine knob; use {', '.join(VLLM)}")
    _check_table(engine, VLLM, f"{role}.vllm.")
    from reasoning.models.placement import DTYPES

    if node.get("dtype", "auto") not in (*DTYPES, "auto", "fast"):
        raise ReasoningError(f"{role}.dtype={node['dtype']} is not supported; use one of {', '.join(DTYPES)}, "
                             "auto (the checkpoint's) or fast (bfloat16 where computed natively, else float32)")
    path = node.get("path")
    if isinstance(path, str) and path.startswith(("/", "./", "../", "~")) and not Path(path).expanduser().exists():
        raise ReasoningError(f"{role}.path={path} does not exist; point it at a model folder or a hub id")
    if isinstance(path, str) and Path(path).expanduser().is_dir():
        folder = Path(path).expanduser()
        if not (folder / "config.json").exists() and not node.get("gguf_file"):
            what = "is empty" if not any(folder.iterdir()) else "has no config.json"
            raise ReasoningError(f"{role}.path={path} {what}; point it at a model folder (config.json and "
                                 "weights, as save_pretrained writes them) or a hub id")
        if (folder / "config.json").exists() and not node.get("gguf_file"):
            _check_model_config(folder / "config.json", f"{role}.path={path}")


def _check_model_config(file: Path, knob: str) -> None:
    """transformers meets a config.json without `model_type` with advice to install sentencepiece or
    tiktoken; the mistake is the folder."""
    import json

    try:
        model_type = json.loads(file.read_text()).get("model_type")
    except (ValueError, AttributeError, OSError):
        model_type, what = None, "is not a JSON object"
    else:
        what = "names no model_type"
    if not model_type:
        raise ReasoningError(f"{knob} is not a model folder: its config.json {what}; point it at a folder "
                             "save_pretrained wrote (config.json with model_type, and weights) or a hub id")


def _check_placement(config: dict, roles: list[str]) -> None:
    """Devices the machine lacks, device + device_map conflicts: decided before any weight loads."""
    if not roles:
        return
    from reasoning.environment import plan_placements

    plan_placements(config, roles)


# --- before Hydra makes the run folder --------------------------------------------------------------
class CheckFirst(Callback):
    """Before Hydra makes the run folder: the config's knobs, and a folder that can be made and written."""

    def on_run_start(self, config: DictConfig, **kwargs) -> None:
        try:
            validate(config)
            check_run_dir(_run_dir(config))
        except ReasoningError as error:
            print(f"error: {error}", file=sys.stderr)
            sys.exit(2)  # SystemExit passes Hydra's handler, which would print a traceback for an Exception
        except KeyboardInterrupt:
            print("error: interrupted before anything ran; nothing was written", file=sys.stderr)
            sys.exit(130)


def _run_dir(config: DictConfig) -> Path:
    """`hydra.run.dir` as Hydra will resolve it: its default interpolates `${hydra:runtime.choices...}`,
    which needs HydraConfig, set by Hydra only after this callback (it sets the same config again)."""
    from hydra.core.hydra_config import HydraConfig

    HydraConfig.instance().set_config(config)
    return Path(OmegaConf.select(config, "hydra.run.dir"))


def check_run_dir(folder: Path) -> None:
    """`hydra.run.dir` must be a folder this user can make and write (Hydra makes it next)."""
    if folder.is_file():
        raise ReasoningError(f"hydra.run.dir={folder} is a file; choose a folder")
    refuse_nested(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ReasoningError(f"hydra.run.dir={folder} cannot be made ({error.strerror}: {error.filename}); "
                             "choose a writable folder") from None
    if not os.access(folder, os.W_OK):
        raise ReasoningError(f"hydra.run.dir={folder} cannot be written (read-only); choose a writable folder")


RUN_MARKS = ("results.jsonl", "environment.json")  # files only a run's folder holds (the runner writes them)


def refuse_nested(folder: Path) -> None:
    """A run folder inside another run's folder would be read as part of that run by load() and the report."""
    for parent in Path(folder).resolve().parents:
        if any((parent / mark).is_file() for mark in RUN_MARKS):
            raise ReasoningError(f"hydra.run.dir={folder} is inside the run folder {parent}, whose report would "
                                 "take it in; choose a folder outside it")
