"""Which configs make the same run: the one definition the runner (resume), collect and load share.

A run's identity is its flattened config (`_target_`s kept: baseline and skyline differ only there)
without the keys that change how a run went but not what any record says.
"""
from __future__ import annotations

import hashlib
import inspect
import json

# How fast or how visibly a run went, and Hydra's own settings: never part of what a run is.
HOW_IT_RAN = ("run.batch_size", "run.progress", "hydra")
# A resumed run may extend its dataset: the records already written stay valid. Its prompt texts are
# checked apart (`changed_prompt`), so that a refusal can name the template.
RESUME = (*HOW_IT_RAN, "dataset.limit", "prompts")
# Shards of one run differ in their index (collect and load merge them; their count must agree).
SHARDS = (*HOW_IT_RAN, "run.shard")


def identity(config: dict, ignore: tuple[str, ...] = SHARDS) -> dict:
    """The flattened config minus the `ignore` keys (a key also drops everything below it)."""
    return {k: v for k, v in flatten(config, keep_hydra_keys=True).items() if not _ignored(k, ignore)}


def differing(a: dict, b: dict, ignore: tuple[str, ...] = SHARDS) -> list[str]:
    """The identity keys on which two configs disagree, sorted."""
    a, b = identity(a, ignore), identity(b, ignore)
    return sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))


def flatten(tree: dict, prefix: str = "", keep_hydra_keys: bool = False) -> dict:
    """{"a": {"b": 1, "_target_": x}} -> {"a.b": 1}; lists become tuples so columns stay hashable.

    Hydra's own keys (`_target_`, `_partial_`, ...) say how to build a part, not what the run did:
    dropped, unless `keep_hydra_keys` (to tell baseline from skyline, whose knobs are equal).
    """
    flat = {}
    for key, value in tree.items():
        if key.startswith("_") and key.endswith("_") and not keep_hydra_keys:
            continue
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, f"{name}.", keep_hydra_keys))
        else:
            flat[name] = tuple(value) if isinstance(value, list) else value
    return flat


def _ignored(key: str, ignore: tuple[str, ...]) -> bool:
    return any(key == k or key.startswith(k + ".") for k in ignore)


def prompt_hashes(setting: dict) -> dict:
    """knob -> {name, sha256} for each template knob of a setting (those marked `Prompt`): the text the
    setting renders from, so that an edited prompt file makes another run. A null knob stands for the
    built-in template the setting's `default_templates(knobs)` names (when it has one)."""
    from hydra.utils import get_class

    from reasoning.prompts import load_template
    from reasoning.validate import Prompt, _hints, _markers

    target = get_class(setting["_target_"])
    defaults = {name: p.default for name, p in inspect.signature(target).parameters.items()}
    built_in = getattr(target, "default_templates", lambda knobs: {})({**defaults, **setting})
    hashes = {}
    for knob, hint in _hints(target).items():
        name = setting.get(knob, defaults.get(knob)) or built_in.get(knob)
        if isinstance(name, str) and any(isinstance(m, Prompt) for m in _markers(hint)):
            text = load_template.__wrapped__(name).template  # the file as it is now, not a cached read
            hashes[knob] = {"name": name, "sha256": hashlib.sha256(text.encode()).hexdigest()}
    return hashes


def changed_prompt(saved: dict, now: dict) -> str | None:
    """The first template knob whose text differs between a saved run's `prompts` and now's, or None.
    A saved run without hashes (made before they were recorded) cannot be checked."""
    for knob, entry in now.items():
        before = saved.get(knob)
        if before and before["sha256"] != entry["sha256"]:
            return knob
    return None

