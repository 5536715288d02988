"""Bad inputs through the real CLI: each is refused with exit code != 0 and exactly one line on stderr
that names the key, and the results already in the folder stay byte-identical.

Most cases fail in validation (before any model loads, ~1 s each); a few fail only once the models
are built (knobs the settings check in __init__) and run in a fresh folder instead of a copy.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from reasoning.results.writer import lock_folder
from tests.conftest import ROOT

BASE = ["setting=baseline", "student=tiny", "teacher=tiny-teacher", "dataset.limit=2", "setting.max_new_tokens=4",
        "run.progress=false"]
KEPT = ("results.jsonl", "summary.json", "config.yaml")  # what an earlier run left and a refusal must not touch
FILES = {  # files cases point at, made in the test's folder
    "dollar.txt": "It costs 5$ per item: $question",
    "empty.jsonl": "",
    "blank.jsonl": "\n\n",
    "rows.txt": '{"question": "1+1?", "answer": "#### 2"}\n',
    "empty_model/": None,
    "bogus_model/": None,
    "bogus_model/config.json": '{"hidden_size": 8}',
    "garbled_model/": None,
    "garbled_model/config.json": "not json",
    "a_file": "not a folder",
}

# (name, overrides, text the one line must hold, folder): folder "copy" runs in a copy of a finished
# baseline run; "fresh" in a new folder (the case changes the setting, so a copy would be another config).
CASES = [
    ("batch size negative", ["run.batch_size=-1"], "run.batch_size=-1", "copy"),
    ("batch size zero", ["run.batch_size=0"], "run.batch_size=0", "copy"),
    ("batch size text", ["run.batch_size=abc"], "run.batch_size=abc", "copy"),
    ("batch size bool", ["run.batch_size=true"], "run.batch_size=true", "copy"),
    ("no shards", ["run.num_shards=0"], "run.num_shards=0", "copy"),
    ("shard out of range", ["run.shard=3"], "run.shard=3", "copy"),
    ("progress not bool", ["run.progress=maybe"], "run.progress=maybe", "copy"),
    ("seed text", ["seed=abc"], "seed=abc", "copy"),
    ("seed fraction", ["seed=1.5"], "seed=1.5", "copy"),
    ("limit text", ["dataset.limit=abc"], "dataset.limit=abc", "copy"),
    ("limit negative", ["dataset.limit=-1"], "dataset.limit=-1", "copy"),
    ("limit zero", ["dataset.limit=0"], "dataset.limit=0", "copy"),
    ("limit beyond generated set", ["dataset.limit=120"], "dataset.limit=120", "copy"),
    ("n negative", ["dataset.n=-1"], "dataset.n=-1", "copy"),
    ("dataset path a folder", ["dataset=gsm8k", "dataset.path={tmp}"], "dataset.path=", "copy"),
    ("dataset path missing", ["dataset=gsm8k", "dataset.path={tmp}/nope.jsonl"], "dataset.path=", "copy"),
    ("dataset file empty", ["dataset=gsm8k", "dataset.path={tmp}/empty.jsonl"], "dataset.path=", "copy"),
    ("dataset file blank", ["dataset=gsm8k", "dataset.path={tmp}/blank.jsonl"], "dataset.path=", "copy"),
    ("dataset suffix", ["dataset=gsm8k", "dataset.path={tmp}/rows.txt"], "dataset.path=", "copy"),
    ("malformed policy", ["dataset=gsm8k", "dataset.on_malformed=maybe"], "dataset.on_malformed=maybe", "copy"),
    ("grader timeout zero", ["grader.timeout_seconds=0"], "grader.timeout_seconds=0", "copy"),
    ("max new tokens zero", ["setting.max_new_tokens=0"], "setting.max_new_tokens=0", "copy"),
    ("unknown setting knob", ["+setting.foo=1"], "setting.foo", "copy"),
    ("stop not a list", ["setting.stop=3"], "setting.stop=3", "copy"),
    ("prompt missing", ["setting.prompt={tmp}/nope.txt"], "setting.prompt=", "copy"),
    ("prompt bare dollar", ["setting.prompt={tmp}/dollar.txt"], "bare $", "copy"),
    ("target missing", ["setting._target_=nowhere.Nothing"], "setting._target_=nowhere.Nothing", "copy"),
    ("sampling at temperature 0", ["student.generation.do_sample=true", "student.generation.temperature=0"],
     "student.generation.temperature=0", "copy"),
    ("top_p zero", ["student.generation.top_p=0"], "student.generation.top_p=0", "copy"),
    ("unknown generation knob", ["+student.generation.beams=4"], "student.generation.beams", "copy"),
    ("device mps", ["student.device=mps"], "student.device=mps", "copy"),
    ("device unknown", ["student.device=tpu"], "student.device=tpu", "copy"),
    ("device missing GPU", ["student.device=cuda:99"], "student.device=cuda:99", "copy"),
    ("dtype unknown", ["student.dtype=float8"], "student.dtype=float8", "copy"),
    ("prefix cache size zero", ["student.prefix_cache_tokens=0"], "student.prefix_cache_tokens=0", "copy"),
    ("model folder empty", ["student=llama3-8b-instruct", "student.path={tmp}/empty_model"], "student.path=", "copy"),
    ("model folder, bogus config", ["student=llama3-8b-instruct", "student.path={tmp}/bogus_model"],
     "is not a model folder", "copy"),
    ("model folder, config not JSON", ["student=llama3-8b-instruct", "student.path={tmp}/garbled_model"],
     "is not a model folder", "copy"),
    # Typos Hydra refuses while composing: one line with the closest name, no `+key` advice.
    ("setting misspelt", ["setting=feedbak"],
     "no setting named feedbak; did you mean feedback? (options: baseline, feedback, skyline, speculative)", "copy"),
    ("knob misspelt", ["setting=feedback", "setting.max_round=2"],
     "setting.max_round is not a knob of feedback; did you mean setting.max_rounds?", "copy"),
    ("run knob misspelt", ["run.batch_sise=2"], "run.batch_sise is not a knob of run; did you mean run.batch_size?",
     "copy"),
    ("model preset misspelt", ["student=tiny-teachr"], "did you mean tiny-teacher?", "copy"),
    ("sweep option misspelt", ["-m", "setting=baseline,skylin"], "did you mean skyline?", "copy"),
    ("spaces around =", ["a", "=", "b"], "cannot read `a = b`: write each override as key=value", "copy"),
    ("no = at all", ["dataset.limit"], "cannot read the override `dataset.limit`", "copy"),
    ("empty stop string", ["setting.stop=[\"\"]"], "setting.stop holds an empty string", "copy"),
    ("empty stop string, skyline", ["setting=skyline", "setting.stop=[stop,'']"], "setting.stop holds an empty string",
     "fresh"),
    ("model folder missing", ["student=llama3-8b-instruct", "student.path={tmp}/no_model"], "student.path=", "copy"),
    ("run dir is a file", ["hydra.run.dir={tmp}/a_file"], "hydra.run.dir=", "none"),
    ("run dir under a file", ["hydra.run.dir={tmp}/a_file/run"], "hydra.run.dir=", "none"),
    ("run dir cannot be made", ["hydra.run.dir=/proc/self/run"], "hydra.run.dir=", "none"),
    ("verdict mode", ["setting=feedback", "setting.verdict_mode=maybe"], "setting.verdict_mode=maybe", "fresh"),
    ("max rounds text", ["setting=feedback", "setting.max_rounds=abc"], "setting.max_rounds=abc", "fresh"),
    ("threshold text", ["setting=speculative", "setting.threshold=foo"], "setting.threshold=foo", "fresh"),
    # Checked by the settings' own __init__ (after the models load) until their signatures carry ranges:
    ("max rounds zero", ["setting=feedback", "setting.max_rounds=0"], "setting.max_rounds=0", "fresh"),
    ("chunk tokens zero", ["setting=speculative", "setting.chunk_tokens=0"], "setting.chunk_tokens=0", "fresh"),
    ("granularity", ["setting=speculative", "setting.granularity=word"], "setting.granularity=word", "fresh"),
]


def cli(*overrides: str, cwd=ROOT):
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    return subprocess.run([sys.executable, "-m", "reasoning", *overrides], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


def stderr_lines(text: str) -> list[str]:
    return [line for line in text.replace("\r", "\n").split("\n") if line.strip()]


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> Path:
    """A small finished baseline run: the earlier results every 'copy' case must leave alone."""
    out = tmp_path_factory.mktemp("finished") / "run"
    done = cli(*BASE, f"hydra.run.dir={out}")
    assert done.returncode == 0, done.stderr
    return out


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("files")
    for name, text in FILES.items():
        if text is None:
            (root / name).mkdir()
        else:
            (root / name).write_text(text)
    return root


def snapshot(folder: Path) -> dict:
    return {name: (folder / name).read_bytes() for name in KEPT if (folder / name).exists()}


@pytest.mark.parametrize("name, overrides, names, folder", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_one_line_and_keeps_earlier_results(name, overrides, names, folder, finished, files, tmp_path):
    out = tmp_path / "run"
    if folder == "copy":
        shutil.copytree(finished, out)
    before = snapshot(out)
    overrides = [o.replace("{tmp}", str(files)) for o in overrides]
    run_dir = [] if any(o.startswith("hydra.run.dir=") for o in overrides) else [f"hydra.run.dir={out}"]
    result = cli(*BASE, *run_dir, *overrides)
    lines = stderr_lines(result.stderr)
    assert result.returncode != 0, f"exit 0 for {overrides}: {result.stdout[-500:]}"
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ") and names in lines[0], lines[0]
    assert "Traceback" not in result.stdout + result.stderr
    if folder == "fresh":  # config.yaml may be written; no record may be
        assert not (out / "results.jsonl").exists() or not (out / "results.jsonl").read_text()
    else:
        assert snapshot(out) == before


def test_table_is_large_enough():
    assert len(CASES) >= 30


def test_a_non_json_middle_line_is_one_line_on_resume(finished, tmp_path):
    out = tmp_path / "run"
    shutil.copytree(finished, out)
    lines = (out / "results.jsonl").read_text().splitlines(keepends=True)
    (out / "results.jsonl").write_text("{not json\n" + "".join(lines))
    before = snapshot(out)
    result = cli(*BASE, "dataset.limit=3", f"hydra.run.dir={out}")
    assert result.returncode != 0
    assert stderr_lines(result.stderr) == [f"error: {out / 'results.jsonl'} line 1 is not JSON; delete that line "
                                           "to keep the other records, or move the file away to start over"]
    assert snapshot(out) == before


def test_a_folder_in_use_is_refused_naming_the_pid(finished, tmp_path):
    out = tmp_path / "run"
    shutil.copytree(finished, out)
    before = snapshot(out)
    with lock_folder(out):  # this test process holds the folder, as a running job would
        result = cli(*BASE, "dataset.limit=3", f"hydra.run.dir={out}")
    assert result.returncode != 0
    assert stderr_lines(result.stderr) == [f"error: {out} is in use by another run (pid {os.getpid()}); "
                                           "wait for it to end or choose another hydra.run.dir"]
    assert snapshot(out) == before
    again = cli(*BASE, "dataset.limit=3", f"hydra.run.dir={out}")  # the lock went with its holder
    assert again.returncode == 0, again.stderr


def test_a_failed_run_does_not_block_its_fix(files, tmp_path):
    out = tmp_path / "run"
    odd = tmp_path / "odd_prompt.txt"
    odd.write_text("$question, in the style of $poet")  # a field no setting fills: found only when solving
    failed = cli(*BASE, "setting=feedback", f"setting.answer_prompt={odd}", f"hydra.run.dir={out}")
    assert failed.returncode != 0 and (out / "config.yaml").exists()
    assert "$poet" in failed.stderr and len(failed.stderr.strip().splitlines()) == 1
    fixed = cli(*BASE, "setting=feedback", "setting.max_rounds=1", "setting.max_new_tokens=4", f"hydra.run.dir={out}")
    assert fixed.returncode == 0, fixed.stderr
    assert "feedback: accuracy" in fixed.stdout


@pytest.mark.parametrize("overrides", [["setting=feedbak"], ["setting.max_round=2"], ["a", "=", "b"]])
def test_a_typo_exits_2_without_hydra_advice(overrides, tmp_path):
    result = cli(*overrides, f"hydra.run.dir={tmp_path / 'run'}")
    assert result.returncode == 2 and len(stderr_lines(result.stderr)) == 1, result.stderr
    assert "+setting" not in result.stderr and not (tmp_path / "run").exists()


def test_hydra_full_error_still_shows_hydras_own_message(tmp_path):
    env = {**os.environ, "HYDRA_FULL_ERROR": "1"}
    result = subprocess.run([sys.executable, "-m", "reasoning", "setting=feedbak"], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode != 0 and "Available options in 'setting'" in result.stderr


def test_help_and_cfg_job_still_work_with_the_typo_check():
    shown = cli("setting=baseline", "student=tiny", "--cfg", "job")
    assert shown.returncode == 0 and "reasoning.settings.baseline.Baseline" in shown.stdout, shown.stderr
    helped = cli("--help")
    assert helped.returncode == 0 and "setting: baseline, feedback, skyline, speculative" in helped.stdout


def test_a_local_sweep_stops_on_bad_input_with_one_line_not_a_traceback(tmp_path):
    """A local `-m` sweep runs its jobs in this process: a job's bad input reads as in a single run."""
    result = cli("-m", "setting=baseline,skyline", "dataset=gsm8k", f"dataset.path={tmp_path / 'nope.jsonl'}",
                 f"hydra.sweep.dir={tmp_path / 'sweep'}")
    assert result.returncode == 2 and "Traceback" not in result.stderr + result.stdout, result.stderr
    assert stderr_lines(result.stderr) == [f"error: dataset.path={tmp_path / 'nope.jsonl'} does not exist; set it to "
                                           "a .jsonl, .json, .parquet file (or null to load from the hub)"]
