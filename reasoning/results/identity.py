"""Which configs make the same run: the one definition the runner (resume), collect and load share.

A run's identity is its flattened config (`_target_`s kept: baseline and skyline differ only there)
without the keys that change how a run went but not what any record says.
"""
from __future__ import annotations

import json

# How fast or how visibly a run went, and Hydra's own settings: never part of what a run is.
HOW_IT_RAN = ("run.batch_size", "run.progress", "hydra")
# A resumed run may extend its dataset: the records already written stay valid.
RESUME = (*HOW_IT_RAN, "dataset.limit")
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
