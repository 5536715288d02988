"""Merge the shards of a run into one results.jsonl + summary.json + config.yaml.

    python -m reasoning.collect multirun/2026-11-23/10-00-00 --out results/gsm8k-feedback

A sharded run (`-m run.num_shards=4 run.shard='range(0,4)'`) leaves one run folder per shard. Given
run folders, a sweep folder or any folder above them, `collect` groups the run folders whose configs
have one identity (`reasoning.results.identity`: equal configs up to the shard index, batch size and
progress bar, the same definition `load` and the runner's resume use) and number of shards, and
writes one merged run per group: into `--out` itself when there is one group, into
`--out/<setting>` (`feedback-1`, `feedback-2`, ... for repeats) when there are several. A run that was not
sharded is a group of one and is copied as it is.

It refuses, with a one-line error, groups that lack a shard, hold a shard twice, mix shards of
different configs, share a problem between shards, hold a shard that has not finished (no
summary.json, or one a stop wrote with `finished: false`; pass --partial to merge what is there) or one a run is writing now (its folder lock).
A problem recorded twice inside one shard is merged once (the first record; a warning counts them).
"""
from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from dataclasses import dataclass
from itertools import zip_longest
from pathlib import Path

import yaml

from reasoning.errors import ReasoningError
from reasoning.results import read_records, summarize
from reasoning.results.identity import SHARDS, identity
from reasoning.results.load import find_run_dirs
from reasoning.results.writer import first_of_each, holder


@dataclass
class Shard:
    dir: Path
    config: dict  # the run's identity (reasoning.results.identity): what makes shards one run
    shard: int
    num_shards: int

    @property
    def key(self) -> str:
        return json.dumps(self.config, sort_keys=True, default=str)


def collect(paths, out: str | Path, partial: bool = False) -> list[Path]:
    """Merge every group of shards under `paths` into `out`; return the merged run folders."""
    out = Path(out)
    groups = _group([_shard(d) for d in find_run_dirs(paths) if not _is_within(d, out)])
    merged = [_merge(group, partial) for group in groups]
    targets = [out] if len(groups) == 1 else [out / name for name in _names(merged)]
    for target in targets:
        if (target / "results.jsonl").exists():
            raise ReasoningError(f"{target} already holds a results.jsonl; choose another --out or delete it")
    for group, (records, config), target in zip(groups, merged, targets):
        _write(records, config, [s.dir for s in group], target)
    return targets


def _shard(run_dir: Path) -> Shard:
    path = run_dir / "config.yaml"
    if not path.is_file():
        raise ReasoningError(f"{run_dir} has no config.yaml: cannot tell which run it belongs to")
    config = yaml.safe_load(path.read_text()) or {}
    run = config.get("run") or {}
    return Shard(run_dir, identity(config, SHARDS), run.get("shard", 0), run.get("num_shards", 1))


def _group(shards: list[Shard]) -> list[list[Shard]]:
    """Shards of equal config and shard count form a group; check each group is whole."""
    groups: dict = {}
    for s in shards:
        groups.setdefault((s.key, s.num_shards), []).append(s)
    for members in groups.values():
        _check_unique(members)
    incomplete = [m for m in groups.values() if len(m) < m[0].num_shards]
    for members in incomplete:
        _check_not_mixed(members, [g for g in incomplete if g is not members])
        have = sorted(s.shard for s in members)
        missing = sorted(set(range(members[0].num_shards)) - set(have))
        raise ReasoningError(f"{members[0].dir.parent}: shard(s) {missing} of {members[0].num_shards} missing "
                             f"(found {have}); run them (e.g. -m run.shard={','.join(map(str, missing))}) first")
    return [sorted(m, key=lambda s: s.shard) for m in groups.values()]


def _check_unique(members: list[Shard]) -> None:
    seen: dict[int, Path] = {}
    for s in members:
        if s.shard in seen:
            raise ReasoningError(f"shard {s.shard} of {s.num_shards} appears twice, in {seen[s.shard]} and {s.dir}; "
                                 "pass only one of them")
        seen[s.shard] = s.dir


def _check_not_mixed(members: list[Shard], others: list[list[Shard]]) -> None:
    """Two incomplete groups whose shards would complete each other: shards of different configs."""
    have = {s.shard for s in members}
    for other in others:
        if other[0].num_shards == members[0].num_shards and not have & {s.shard for s in other}:
            a, b = members[0], other[0]
            differing = sorted(k for k in set(a.config) | set(b.config) if a.config.get(k) != b.config.get(k))
            raise ReasoningError(f"cannot merge shards of different configs: {a.dir} and {b.dir} differ in "
                                 f"{', '.join(differing)}")


def _merge(group: list[Shard], partial: bool) -> tuple[list[dict], dict]:
    """The group's records in dataset order, and the config of the whole run."""
    for s in group:
        if (pid := holder(s.dir)) is not None:  # a run (or its resume) is writing there right now
            raise ReasoningError(f"{s.dir} is being written by a run (pid {pid or 'unknown'}); wait for it to end")
    unfinished = [s.dir for s in group if not _finished(s.dir)]
    if unfinished and not partial:
        raise ReasoningError(f"{unfinished[0]} has not finished (stopped, or no summary.json); rerun it to resume, "
                             "or pass --partial to merge what is there")
    per_shard = [first_of_each(read_records(s.dir / "results.jsonl"), s.dir) for s in group]
    seen: dict[str, Path] = {}
    for s, records in zip(group, per_shard):
        for r in records:
            if r["id"] in seen:
                raise ReasoningError(f"problem {r['id']} is in both {seen[r['id']]} and {s.dir}; "
                                     "these folders are not shards of one run")
            seen[r["id"]] = s.dir
    # Shard k holds problems[k::num_shards]: taking one from each in turn restores the dataset's order.
    records = [r for row in zip_longest(*per_shard) for r in row if r is not None]
    config = yaml.safe_load((group[0].dir / "config.yaml").read_text())
    config.setdefault("run", {}).update(shard=0, num_shards=1)  # the merged folder is the whole run
    return records, config


def _finished(folder: Path) -> bool:
    """A run that ended normally; a stopped run writes `finished: false` (older summaries lack the key)."""
    path = folder / "summary.json"
    return path.exists() and json.loads(path.read_text()).get("finished", True)


def _write(records: list[dict], config: dict, sources: list[Path], target: Path) -> None:
    target.mkdir(parents=True, exist_ok=True)
    with open(target / "results.jsonl", "w", encoding="utf-8") as f:
        f.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
    summary = {**summarize(records), "shards": [str(d) for d in sources]}
    (target / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    (target / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))


def _names(merged) -> list[str]:
    """A folder per group, named by its setting: baseline, feedback, or feedback-1, feedback-2 for repeats."""
    settings = [records[0]["setting"] if records else "run" for records, _ in merged]
    counts, seen, names = Counter(settings), Counter(), []
    for setting in settings:
        seen[setting] += 1
        names.append(setting if counts[setting] == 1 else f"{setting}-{seen[setting]}")
    return names


def _is_within(path: Path, folder: Path) -> bool:
    return path.resolve().is_relative_to(folder.resolve())


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m reasoning.collect", description=__doc__.split("\n\n")[0])
    parser.add_argument("paths", nargs="+", help="run folders, sweep folders, or folders holding them")
    parser.add_argument("--out", required=True, help="folder for the merged run(s)")
    parser.add_argument("--partial", action="store_true", help="merge shards that have not finished too")
    args = parser.parse_args(argv)
    try:
        written = collect(args.paths, args.out, args.partial)
    except ReasoningError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
    for target in written:
        summary = json.loads((target / "summary.json").read_text())
        accuracy = "n/a" if summary["accuracy"] is None else f"{summary['accuracy']:.3f}"
        print(f"{summary['setting']}: accuracy {accuracy} on {summary['n']} problems "
              f"from {len(summary['shards'])} shard(s) -> {target}")


if __name__ == "__main__":
    main()
