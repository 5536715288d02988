"""`python -m reasoning.collect`: shards of a run merged into one; mixed, missing, duplicate shards refused."""
import json
import shutil
import subprocess
import sys

import pytest
import yaml

from reasoning.collect import collect
from reasoning.errors import ReasoningError
from reasoning.results import read_records
from reasoning.run import run
from tests.conftest import ROOT, compose

FAST = ["student=tiny", "teacher=tiny-teacher", "setting.max_new_tokens=8", "run.progress=false"]
IDS = [f"synthetic-0-000{i}" for i in range(5)]


def _shard(out, shard, *extra, setting="baseline"):
    overrides = [f"setting={setting}", "dataset.limit=5", "run.num_shards=2", f"run.shard={shard}", *FAST, *extra]
    run(compose(*overrides), out)
    return out


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """Run folders made once: two shards of baseline, shard 1 of another config, an unsharded skyline."""
    root = tmp_path_factory.mktemp("runs")
    _shard(root / "sweep" / "0-baseline", 0)
    _shard(root / "sweep" / "1-baseline", 1)
    run(compose("setting=skyline", "dataset.limit=3", *FAST), root / "sweep" / "2-skyline")
    _shard(root / "other" / "1-baseline", 1, "setting.max_new_tokens=6")
    return root


@pytest.fixture
def runs(made, tmp_path):
    shutil.copytree(made, tmp_path / "runs")
    return tmp_path / "runs"


def test_shards_merge_into_one_run_in_dataset_order(runs, tmp_path):
    [out] = collect([runs / "sweep" / "0-baseline", runs / "sweep" / "1-baseline"], tmp_path / "merged")
    assert out == tmp_path / "merged"
    assert [r["id"] for r in read_records(out / "results.jsonl")] == IDS
    summary = json.loads((out / "summary.json").read_text())
    assert summary["n"] == 5 and summary["setting"] == "baseline" and len(summary["shards"]) == 2
    config = yaml.safe_load((out / "config.yaml").read_text())
    assert config["run"]["num_shards"] == 1 and config["setting"]["max_new_tokens"] == 8


def test_a_sweep_gives_one_merged_run_per_config(runs, tmp_path):
    outs = collect([runs / "sweep"], tmp_path / "merged")
    assert sorted(p.name for p in outs) == ["baseline", "skyline"]
    assert len(read_records(tmp_path / "merged" / "baseline" / "results.jsonl")) == 5
    assert len(read_records(tmp_path / "merged" / "skyline" / "results.jsonl")) == 3


def test_shards_of_different_configs_are_refused_in_one_line(runs, tmp_path):
    args = [str(runs / "sweep" / "0-baseline"), str(runs / "other" / "1-baseline"), "--out", str(tmp_path / "m")]
    done = subprocess.run([sys.executable, "-m", "reasoning.collect", *args], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith("error: cannot merge shards of different configs")
    assert "setting.max_new_tokens" in done.stderr
    assert not (tmp_path / "m").exists()


def test_a_missing_shard_is_named(runs, tmp_path):
    with pytest.raises(ReasoningError, match=r"shard\(s\) \[1\] of 2 missing"):
        collect([runs / "sweep" / "0-baseline"], tmp_path / "m")


def test_a_duplicate_shard_is_refused(runs, tmp_path):
    shutil.copytree(runs / "sweep" / "1-baseline", runs / "sweep" / "3-baseline")
    with pytest.raises(ReasoningError, match="shard 1 of 2 appears twice"):
        collect([runs / "sweep"], tmp_path / "m")


def test_an_unfinished_shard_needs_partial(runs, tmp_path):
    (runs / "sweep" / "1-baseline" / "summary.json").unlink()
    with pytest.raises(ReasoningError, match="has not finished"):
        collect([runs / "sweep"], tmp_path / "m")
    assert len(collect([runs / "sweep"], tmp_path / "m", partial=True)) == 2


def test_a_stopped_shard_needs_partial(runs, tmp_path):
    summary = runs / "sweep" / "1-baseline" / "summary.json"
    summary.write_text(json.dumps({**json.loads(summary.read_text()), "finished": False}))  # as a stop writes it
    with pytest.raises(ReasoningError, match="has not finished"):
        collect([runs / "sweep"], tmp_path / "m")


def test_an_existing_merge_is_not_overwritten_and_not_read_as_input(runs, tmp_path):
    out = runs / "sweep" / "merged"  # inside the sweep folder: must not count as another run
    collect([runs / "sweep"], out)
    with pytest.raises(ReasoningError, match="already holds a results.jsonl"):
        collect([runs / "sweep"], out)
