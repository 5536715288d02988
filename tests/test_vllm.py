"""backend=vllm end to end: every setting on the tiny pair (engines started once per pytest run, see
conftest.vllm_pair), the checks that come before any engine starts, and the engine processes' life
cycle under SIGTERM and Ctrl-C."""
import json
import os
import signal
import subprocess
import sys
import time

import psutil
import pytest

from conftest import ROOT, compose
from reasoning.errors import ReasoningError
from reasoning.results import read_records
from reasoning.run import run
from reasoning.validate import validate

VLLM = ["backend=vllm", "student=tiny", "teacher=tiny-teacher", "dataset.limit=3", "run.batch_size=3",
        "run.progress=false"]
SETTINGS = {
    "baseline": ["setting.max_new_tokens=40"],
    "skyline": ["setting.max_new_tokens=40"],
    "feedback": ["setting.max_rounds=2", "setting.max_new_tokens=40", "setting.review_max_new_tokens=16"],
    "speculative": ["setting.granularity=token", "setting.criterion=argmax", "setting.max_new_tokens=40"],
    "speculative-step": ["setting=speculative", "setting.granularity=step", "setting.criterion=logprob",
                         "setting.max_new_tokens=40"],
}


def run_setting(name, tmp_path, *extra):
    overrides = SETTINGS[name] if name.startswith("speculative-") else [f"setting={name}", *SETTINGS[name]]
    return run(compose(*VLLM, *overrides, *extra), tmp_path / name)


@pytest.mark.parametrize("name", list(SETTINGS))
def test_every_setting_runs_on_vllm(vllm_pair, tmp_path, name):
    summary = run_setting(name, tmp_path)
    records = read_records(tmp_path / name / "results.jsonl")
    assert summary["n"] == 3 and len(records) == 3
    assert all(r["response"] for r in records)
    models = json.loads((tmp_path / name / "environment.json").read_text())["models"]
    assert all(m.get("backend") == "vllm" for m in models.values())
    for record in records:
        for role, cost in record["cost"].items():
            assert cost["computed_tokens"] > 0 and cost["prompt_tokens"] >= cost["cached_tokens"]


def test_token_argmax_on_vllm_writes_the_skyline_text(vllm_pair, tmp_path):
    """The lossless claim on the vLLM backend: the student's draft checked token by token against the
    teacher's greedy choice gives the teacher's own greedy text, with verifications that read the prefix
    cache (answers long enough to fill several of vLLM's 32-token CPU blocks)."""
    run_setting("speculative", tmp_path, "setting.max_new_tokens=200")
    run_setting("skyline", tmp_path, "setting.max_new_tokens=200")
    spec = read_records(tmp_path / "speculative" / "results.jsonl")
    sky = read_records(tmp_path / "skyline" / "results.jsonl")
    assert [r["response"] for r in spec] == [r["response"] for r in sky]
    assert any(r["interventions"] for r in spec)  # the tiny student really disagreed
    assert sum(r["cost"]["teacher"]["cached_tokens"] for r in spec) > 0


def test_a_model_can_stay_on_transformers(vllm_pair, tmp_path):
    run_setting("speculative", tmp_path, "student.backend=hf")
    models = json.loads((tmp_path / "speculative" / "environment.json").read_text())["models"]
    assert models["teacher"]["backend"] == "vllm" and models["student"]["backend"] == "hf"


@pytest.mark.parametrize("overrides, message", [
    (["teacher.vllm.tensor_parallel_size=2"], "needs GPUs and teacher runs on the CPU"),
    (["teacher.device=cuda:0"], "teacher on vLLM needs GPU 0 .* this job sees no GPU"),
    (["student.vllm.gpu_memory_utilization=1.5"], r"student.vllm.gpu_memory_utilization=1.5 is not allowed"),
    (["+teacher.vllm.tensor_parallel=2"], "teacher.vllm.tensor_parallel is not a vLLM engine knob"),
    (["teacher.vllm.block_size=0"], r"teacher.vllm.block_size=0 is not allowed"),
])
def test_engine_mistakes_are_one_line_before_any_engine_starts(overrides, message):
    before = len(psutil.Process().children(recursive=True))
    with pytest.raises(ReasoningError, match=message):
        validate(compose(*VLLM, "setting=speculative", *overrides))
    assert len(psutil.Process().children(recursive=True)) == before


def test_tensor_parallelism_must_divide_the_heads(tmp_path):
    from reasoning.models.tiny import ensure_tiny
    from reasoning.models.vllm_placement import check_heads

    with pytest.raises(ReasoningError, match="tensor_parallel_size=2 does not divide the model's 3 attention heads; use one of 1, 3"):
        check_heads("teacher", ensure_tiny("tiny-teacher"), 2)


def test_a_missing_vllm_install_is_one_line(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "vllm" else real(name, *a))
    with pytest.raises(ReasoningError, match="vLLM is not installed; run bash setup.sh"):
        validate(compose(*VLLM, "setting=baseline"))


def test_engine_placement_by_role_on_a_4_gpu_node():
    from reasoning.models.vllm_placement import engine_gpus

    assert engine_gpus("student", "auto", 1, 4) == (0,)
    assert engine_gpus("teacher", "auto", 2, 4, (0,)) == (1, 2)  # the 70B layout: TP=2 on GPUs 1-2
    assert engine_gpus("teacher", "auto", 1, 1, (0,)) == (0,)  # one GPU: shared by memory fraction
    with pytest.raises(ReasoningError, match="needs GPUs 1, 2, 3, 4 .* sees 4 GPUs"):
        engine_gpus("teacher", "cuda:1", 4, 4)


# SIGTERM to the run alone (`kill PID`); SIGINT to its whole process group, as Ctrl-C in a terminal sends it
@pytest.mark.parametrize("sig, code, group, rerun", [(signal.SIGTERM, 143, False, True), (signal.SIGINT, 130, True, False)])
def test_a_stopped_vllm_run_leaves_no_process_behind_and_resumes(tmp_path, sig, code, group, rerun):
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "reasoning", "setting=baseline", "backend=vllm", "student=tiny",
           "dataset.limit=12", "run.batch_size=2", "setting.max_new_tokens=200", "run.progress=false",
           f"hydra.run.dir={out}"]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    deadline, children = time.time() + 240, []
    while time.time() < deadline and not read_records(out / "results.jsonl"):
        children = psutil.Process(proc.pid).children(recursive=True) or children
        time.sleep(0.1)
    assert children, "no engine process was started"
    if group:
        os.killpg(proc.pid, sig)
    else:
        proc.send_signal(sig)
    stderr = proc.communicate(timeout=90)[1]
    assert proc.returncode == code, stderr[-2000:]
    assert "Traceback" not in stderr
    assert "leaked" not in stderr  # the engine was shut down, not killed with its shared memory in use
    gone, alive = psutil.wait_procs(children, timeout=30)
    assert not alive, f"left behind: {[p.pid for p in alive]}"
    done = len(read_records(out / "results.jsonl"))
    assert 0 < done < 12
    if rerun:
        assert subprocess.run(cmd, cwd=ROOT, capture_output=True, timeout=600).returncode == 0
        ids = [r["id"] for r in read_records(out / "results.jsonl")]
        assert len(ids) == len(set(ids)) == 12
