"""Real jobs through plain submitit on the local SLURM cluster (slurm/local-cluster.sh).

Needs root; skips otherwise (see tests/slurm_cluster.py). About a minute in all, most of it the
requeue test, which waits for SLURM to start the requeued job again.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import cloudpickle
import pytest
import submitit

try:  # `tests` importable as a package (rootdir on sys.path) or this folder on sys.path
    from tests.slurm_cluster import slurm_cluster  # noqa: F401  (registers the fixture)
except ImportError:  # pragma: no cover
    from slurm_cluster import slurm_cluster  # noqa: F401

pytestmark = pytest.mark.slurm

# Jobs unpickle the functions below in a fresh interpreter whose sys.path need not contain this
# folder: ship them by value rather than as a reference to this test module.
cloudpickle.register_pickle_by_value(sys.modules[__name__])

JOB_TIMEOUT_S = 60
REQUEUE_TIMEOUT_S = 90


def wait_result(job, timeout_s: float = JOB_TIMEOUT_S):
    """job.result(), but failing the test instead of hanging when the job never ends."""
    deadline = time.monotonic() + timeout_s
    while not job.done():
        if time.monotonic() > deadline:
            job.cancel(check=False)
            pytest.fail(f"job {job.job_id} not done after {timeout_s}s (state {job.state})")
        time.sleep(0.5)
    return job.result()


def add(a: int, b: int) -> int:
    return a + b


def square(x: int) -> int:
    return x * x


def fail(message: str) -> None:
    raise ValueError(message)


class SleepUntilRequeued(submitit.helpers.Checkpointable):
    """First run: say it is running, then sleep until preempted. After the requeue: return.

    `Checkpointable.checkpoint` resubmits this very object, pickled with its state, so `runs`
    tells the requeued job that it has been here before.
    """

    def __init__(self) -> None:
        self.runs = 0

    def __call__(self, running_marker: str) -> int:
        self.runs += 1
        if self.runs == 1:
            Path(running_marker).touch()
            time.sleep(300)  # interrupted long before this ends
        return self.runs


def test_function_job_returns_its_result(slurm_cluster, tmp_path):
    executor = slurm_cluster.executor(tmp_path)
    start = time.monotonic()
    job = executor.submit(add, 2, 3)
    assert wait_result(job) == 5
    print(f"round trip of a trivial job: {time.monotonic() - start:.1f}s")


def test_job_array(slurm_cluster, tmp_path):
    executor = slurm_cluster.executor(tmp_path)
    jobs = executor.map_array(square, [1, 2, 3])
    assert len({job.job_id.split("_")[0] for job in jobs}) == 1, "one array, three tasks"
    assert [wait_result(job) for job in jobs] == [1, 4, 9]


def test_failing_job_raises_its_exception(slurm_cluster, tmp_path):
    job = slurm_cluster.executor(tmp_path).submit(fail, "boom from the job")
    with pytest.raises(submitit.core.utils.FailedJobError) as failure:
        wait_result(job)
    assert "ValueError: boom from the job" in str(failure.value)


def test_preempted_checkpointable_job_is_requeued_and_finishes(slurm_cluster, tmp_path):
    marker = tmp_path / "running"
    job = slurm_cluster.executor(tmp_path / "logs").submit(SleepUntilRequeued(), str(marker))
    deadline = time.monotonic() + JOB_TIMEOUT_S
    while not marker.exists():
        assert time.monotonic() < deadline, f"job never started (state {job.state})"
        time.sleep(0.2)
    start = time.monotonic()
    job._interrupt()  # what a preemption does: SIGTERM, then submitit's USR2 -> checkpoint
    assert wait_result(job, REQUEUE_TIMEOUT_S) == 2
    print(f"requeue round trip (interrupt -> result): {time.monotonic() - start:.1f}s")
    assert "Requeued" in (job.stderr() or "") + (job.stdout() or "")


def test_gpu_request_is_refused_without_gres(slurm_cluster, tmp_path):
    if "Gres=gpu" in slurm_cluster.slurm_conf.read_text():
        pytest.skip("this cluster was started with fake GPUs")
    executor = slurm_cluster.executor(tmp_path, gpus_per_node=1)
    with pytest.raises(Exception, match="Invalid generic resource"):
        executor.submit(add, 1, 1)



def test_a_sweep_job_preempted_mid_batch_resumes_without_a_traceback(slurm_cluster, tmp_path):
    """The USR2 path end to end through `python -m reasoning -m cluster=local`: SIGTERM, then USR2
    while a batch of 4 is half-way; the requeued job redoes only the unfinished problems and neither
    run writes a traceback into the job's logs."""
    import json
    import re
    import subprocess

    import submitit

    from reasoning.results import read_records

    root = Path(__file__).resolve().parents[1]
    overrides = ["setting=baseline", "student=tiny", "teacher=tiny-teacher", "setting.max_new_tokens=120",
                 "dataset.limit=24", "run.batch_size=4", "run.progress=false"]
    launcher = subprocess.Popen([sys.executable, "-m", "reasoning", "-m", "cluster=local", f"hydra.sweep.dir={tmp_path}",
                                 *overrides], cwd=root, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    results = tmp_path / "0-baseline" / "results.jsonl"
    try:
        deadline = time.monotonic() + JOB_TIMEOUT_S
        while len(read_records(results)) < 4:  # one batch written, the next under way
            assert launcher.poll() is None and time.monotonic() < deadline, "the job never wrote a batch"
            time.sleep(0.2)
        before = results.read_text()
        [job_id] = [p.name for p in (tmp_path / ".submitit").iterdir() if p.is_dir()]
        submitit.SlurmJob(folder=tmp_path / ".submitit" / "%j", job_id=job_id)._interrupt()
        output, _ = launcher.communicate(timeout=JOB_TIMEOUT_S + REQUEUE_TIMEOUT_S)
    finally:
        if launcher.poll() is None:
            launcher.kill()
    assert launcher.returncode == 0, output[-3000:]
    ids = [json.loads(line)["id"] for line in results.read_text().splitlines()]
    assert sorted(ids) == [f"synthetic-0-{i:04d}" for i in range(24)]  # each exactly once
    assert results.read_text().startswith(before)
    job_log = "".join(p.read_text() for p in (tmp_path / ".submitit" / job_id).glob("*_log.*"))
    assert "DUE TO JOB REQUEUE" in job_log
    starts = [int(n) for n in re.findall(r"24 problems, (\d+) already done", job_log)]
    assert len(starts) == 2 and starts[1] >= 4, starts
    assert "Traceback" not in job_log, job_log[-3000:]


def test_a_vllm_sweep_runs_on_the_local_cluster(slurm_cluster, tmp_path):
    """`-m cluster=local backend=vllm`: each sweep job starts its own engines inside its SLURM job,
    finishes, and leaves no engine process behind on the node."""
    import subprocess

    import psutil

    from reasoning.results import read_records

    root = Path(__file__).resolve().parents[1]
    overrides = ["setting=baseline,skyline,feedback,speculative", "backend=vllm", "student=tiny",
                 "teacher=tiny-teacher", "setting.max_new_tokens=24", "dataset.limit=2", "run.progress=false",
                 "hydra.launcher.mem_gb=8", "hydra.launcher.cpus_per_task=2", "hydra.launcher.timeout_min=15"]
    done = subprocess.run([sys.executable, "-m", "reasoning", "-m", "cluster=local", f"hydra.sweep.dir={tmp_path}",
                           *overrides], cwd=root, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    for job in ("0-baseline", "1-skyline", "2-feedback", "3-speculative"):  # the four settings
        assert len(read_records(tmp_path / job / "results.jsonl")) == 2
    job_log = "".join(p.read_text() for p in (tmp_path / ".submitit").rglob("*_log.*"))
    assert "vLLM engine ready" in job_log and "Traceback" not in job_log, job_log[-3000:]
    ours = {p.pid for p in psutil.Process().children(recursive=True)}  # this session's own engines (vllm_pair)
    engines = [p for p in psutil.process_iter(["name", "cmdline"]) if p.pid not in ours and
               ("VLLM" in (p.info["name"] or "") or "spawn_main" in " ".join(p.info["cmdline"] or []))]
    assert not engines, [p.info for p in engines]
