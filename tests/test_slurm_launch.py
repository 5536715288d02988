"""Sweeps submitted to SLURM through Hydra's submitit launcher (`-m cluster=...`), and the cluster presets.

The tests marked `slurm` submit real jobs to the local cluster of slurm/local-cluster.sh (root only;
they skip otherwise, see tests/slurm_cluster.py): a two-setting sweep, an array of shards merged by
`reasoning.collect`, a preempted job that requeues and resumes, a failing job, a refused GPU request,
and slurm/run.sbatch. About two minutes, most of it the two requeues. The others only compose configs.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import submitit

from reasoning.collect import collect
from reasoning.results import read_records
from tests.conftest import ROOT

try:  # `tests` importable as a package (rootdir on sys.path) or this folder on sys.path
    from tests.slurm_cluster import slurm_cluster  # noqa: F401  (registers the fixture)
except ImportError:  # pragma: no cover
    from slurm_cluster import slurm_cluster  # noqa: F401

FAST = ["student=tiny", "teacher=tiny-teacher", "setting.max_new_tokens=8", "run.progress=false"]
# ~0.2 s a problem on the tiny model: long enough to interrupt the job halfway through.
SLOW = ["setting=baseline", "student=tiny", "teacher=tiny-teacher", "setting.max_new_tokens=200",
        "dataset.limit=40", "run.batch_size=1", "run.progress=false"]
SWEEP_TIMEOUT_S = 120


def _reasoning(*args, timeout=SWEEP_TIMEOUT_S) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "reasoning", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout)


def _sweep(sweep_dir: Path, *overrides, timeout=SWEEP_TIMEOUT_S) -> subprocess.CompletedProcess:
    return _reasoning("-m", "cluster=local", f"hydra.sweep.dir={sweep_dir}", *overrides, timeout=timeout)


def _wait_for_records(path: Path, n: int, alive, timeout_s: float = 60) -> str:
    """The file's text once it holds `n` records (the job runs and has written some)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        text = path.read_text() if path.exists() else ""
        if text.count("\n") >= n:
            return text
        assert alive(), f"the run ended before {path} had {n} records"
        time.sleep(0.1)
    pytest.fail(f"{path} did not reach {n} records in {timeout_s}s")


def _ids(run_dir: Path) -> list[str]:
    return [r["id"] for r in read_records(run_dir / "results.jsonl")]


# ---------------------------------------------------------------------------------------------
# Real jobs on the local cluster
# ---------------------------------------------------------------------------------------------
@pytest.mark.slurm
def test_a_sweep_submits_one_job_per_setting(slurm_cluster, tmp_path):
    start = time.monotonic()
    done = _sweep(tmp_path, "setting=baseline,skyline", "dataset.limit=3", *FAST)
    print(f"sweep of 2 jobs through the launcher: {time.monotonic() - start:.1f}s")
    assert done.returncode == 0, done.stderr[-3000:]
    for run_dir in (tmp_path / "0-baseline", tmp_path / "1-skyline"):
        assert _ids(run_dir) == ["synthetic-0-0000", "synthetic-0-0001", "synthetic-0-0002"]
        assert (run_dir / "summary.json").exists() and (run_dir / "config.yaml").exists()
    logs = list((tmp_path / ".submitit").glob("*/*_log.err"))
    assert len(logs) == 2, "each job's submitit log lies in the sweep folder"


@pytest.mark.slurm
def test_shards_run_as_an_array_and_collect_merges_them(slurm_cluster, tmp_path):
    sweep = tmp_path / "sweep"
    done = _sweep(sweep, "setting=baseline", "run.num_shards=3", "run.shard=range(0,3)", "dataset.limit=7", *FAST)
    assert done.returncode == 0, done.stderr[-3000:]
    tasks = sorted(p.name for p in (sweep / ".submitit").iterdir() if p.is_dir() and "_" in p.name)
    assert len(tasks) == 3 and len({t.split("_")[0] for t in tasks}) == 1, f"one array of 3 tasks: {tasks}"
    [merged] = collect([sweep], tmp_path / "merged")
    assert _ids(merged) == [f"synthetic-0-000{i}" for i in range(7)]  # every problem once, in order


@pytest.mark.slurm
def test_a_preempted_job_requeues_and_resumes_without_redoing_problems(slurm_cluster, tmp_path):
    launcher = subprocess.Popen([sys.executable, "-m", "reasoning", "-m", "cluster=local",
                                 f"hydra.sweep.dir={tmp_path}", *SLOW], cwd=ROOT,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        results = tmp_path / "0-baseline" / "results.jsonl"
        before = _wait_for_records(results, 3, alive=lambda: launcher.poll() is None)
        [job_id] = [p.name for p in (tmp_path / ".submitit").iterdir() if p.is_dir()]
        start = time.monotonic()
        # What SLURM does to a preempted job (SIGTERM, then submitit's USR2): submitit calls the
        # launcher's `checkpoint`, which resubmits the same Hydra job, and requeues it.
        submitit.SlurmJob(folder=tmp_path / ".submitit" / "%j", job_id=job_id)._interrupt()
        output, _ = launcher.communicate(timeout=SWEEP_TIMEOUT_S)
        print(f"requeue round trip (interrupt -> sweep done): {time.monotonic() - start:.1f}s")
    finally:
        if launcher.poll() is None:
            launcher.kill()
    assert launcher.returncode == 0, output[-3000:]
    assert _ids(tmp_path / "0-baseline") == [f"synthetic-0-{i:04d}" for i in range(40)]  # each exactly once
    assert results.read_text().startswith(before), "records written before the preemption are kept as they were"
    job_log = "".join(p.read_text() for p in (tmp_path / ".submitit" / job_id).glob("*_log.*"))
    assert "Caught signal SIGUSR2" in job_log and "DUE TO JOB REQUEUE" in job_log
    starts = [int(n) for n in re.findall(r"40 problems, (\d+) already done", job_log)]
    assert starts[0] == 0 and starts[-1] >= 3, f"the requeued job skips what was recorded: {starts}"


@pytest.mark.slurm
def test_a_failing_job_shows_our_error(slurm_cluster, tmp_path):
    done = _sweep(tmp_path, "setting=baseline", "student.device=cuda:3", "dataset.limit=2", *FAST)
    assert done.returncode != 0
    assert "student.device=cuda:3 but this machine has no CUDA device; set student.device=cpu or auto" in done.stderr + done.stdout


@pytest.mark.slurm
def test_a_gpu_request_without_gres_is_refused_at_submission(slurm_cluster, tmp_path):
    if "Gres=gpu" in slurm_cluster.slurm_conf.read_text():
        pytest.skip("this cluster was started with fake GPUs")
    done = _sweep(tmp_path, "setting=baseline", "hydra.launcher.gpus_per_node=2", *FAST, timeout=60)
    assert done.returncode != 0
    assert "sbatch: error: Invalid generic resource (gres) specification" in done.stderr
    assert not (tmp_path / "0-baseline").exists()


@pytest.mark.slurm
def test_the_sbatch_script_runs_and_requeues_itself_before_its_time_limit(slurm_cluster, tmp_path):
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}  # sbatch passes it on
    local = ["--partition=debug", "--gres=none", "--mem=2G", "--cpus-per-task=1", "--time=5"]
    job_id = subprocess.run(["sbatch", "--parsable", f"--chdir={tmp_path}", *local, str(ROOT / "slurm" / "run.sbatch"),
                             *SLOW], env=env, capture_output=True, text=True, check=True).stdout.strip()
    running = lambda: bool(subprocess.run(["squeue", "-h", "-j", job_id], capture_output=True, text=True).stdout)
    run_dir = tmp_path / "outputs" / "slurm" / job_id
    before = _wait_for_records(run_dir / "results.jsonl", 3, alive=running)
    start = time.monotonic()
    # The warning SLURM sends the batch shell before the time limit (--signal=B:USR1@300).
    subprocess.run(["scancel", "--batch", "--signal=USR1", job_id], check=True)
    while running():
        assert time.monotonic() - start < SWEEP_TIMEOUT_S, "the requeued job did not finish"
        time.sleep(0.5)
    print(f"sbatch requeue round trip: {time.monotonic() - start:.1f}s")
    assert _ids(run_dir) == [f"synthetic-0-{i:04d}" for i in range(40)]
    assert (run_dir / "results.jsonl").read_text().startswith(before)
    log = (tmp_path / f"slurm-reasoning-{job_id}.out").read_text()
    assert "requeueing job" in log and re.search(r"40 problems, [1-9]\d* already done", log)


# ---------------------------------------------------------------------------------------------
# Presets, without a cluster
# ---------------------------------------------------------------------------------------------
def test_bwunicluster_preset_requests_gpus_and_loads_modules():
    shown = _reasoning("cluster=bwunicluster", "--cfg", "hydra", timeout=60)
    assert shown.returncode == 0, shown.stderr
    assert "SlurmLauncher" in shown.stdout
    gpus = int(re.search(r"gpus_per_node: (\d+)", shown.stdout).group(1))
    assert gpus >= 2, "student and teacher each get their own GPU"
    assert re.search(r"max_num_timeout: [1-9]", shown.stdout), "a preempted job is requeued"
    override = _reasoning("cluster=bwunicluster", "hydra.launcher.partition=gpu_a100_il",
                          "hydra.launcher.gpus_per_node=2", "--cfg", "hydra", timeout=60)
    assert "partition: gpu_a100_il" in override.stdout and "gpus_per_node: 2" in override.stdout


def test_without_a_cluster_runs_and_sweeps_stay_local(tmp_path):
    shown = _reasoning("--cfg", "hydra", timeout=60)
    assert shown.returncode == 0, shown.stderr
    assert "BasicLauncher" in shown.stdout and "SlurmLauncher" not in shown.stdout
    swept = _reasoning("-m", "setting=baseline", "dataset.limit=1", f"hydra.sweep.dir={tmp_path}", *FAST)
    assert swept.returncode == 0, swept.stderr[-3000:]
    assert "Launching 1 jobs locally" in swept.stdout + swept.stderr
    assert _ids(tmp_path / "0-baseline") == ["synthetic-0-0000"]


def test_a_missing_local_teacher_path_is_a_one_line_error(tmp_path):
    done = _reasoning("setting=skyline", "teacher=llama3-70b-instruct", "teacher.path=/nonexistent",
                      "dataset.limit=1", f"hydra.run.dir={tmp_path}", timeout=120)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1] == (
        "error: teacher.path=/nonexistent does not exist; point it at a model folder or a hub id")
