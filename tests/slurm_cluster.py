"""A session-scoped pytest fixture that provides a real one-node SLURM cluster on 127.0.0.1.

Use it from a test module or a conftest::

    from tests.slurm_cluster import slurm_cluster  # noqa: F401  (registers the fixture)

    @pytest.mark.slurm
    def test_something(slurm_cluster, tmp_path):
        executor = slurm_cluster.executor(tmp_path)
        assert executor.submit(abs, -1).result() == 1

The fixture runs ``slurm/local-cluster.sh start`` (installing Debian's slurm-wlm, munge, slurmdbd
and mariadb-server on first use) and ``stop`` at the end of the session -- but only if it was the
one that started the cluster: a cluster that was already running is used as it is and left running.

It skips, saying why, when the process is not root or SLURM can neither be found nor installed.
Set ``REASONING_REQUIRE_SLURM=1`` (e.g. in CI, which runs as root) to turn those skips into failures.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SCRIPT = REPO_ROOT / "slurm" / "local-cluster.sh"
INSTALL_FAILED = 3  # local-cluster.sh's exit status when it cannot install SLURM


@dataclass(frozen=True)
class SlurmCluster:
    """What a test needs to know about the running cluster."""

    state_dir: Path
    slurm_conf: Path
    partition: str = "debug"

    def executor(self, folder, **parameters):
        """A ``submitit.AutoExecutor`` aimed at this cluster (short time limit, small memory)."""
        import submitit

        executor = submitit.AutoExecutor(folder=folder, cluster="slurm")
        defaults = dict(slurm_partition=self.partition, timeout_min=5, mem_gb=1, cpus_per_task=1)
        executor.update_parameters(**{**defaults, **parameters})
        return executor

    def log(self, name: str, lines: int = 30) -> str:
        """The last lines of a daemon's log (slurmctld, slurmd, slurmdbd, mariadb, apt)."""
        path = self.state_dir / "log" / f"{name}.log"
        if not path.exists():
            return f"(no {path})"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def _skip_or_fail(reason: str):
    if os.environ.get("REASONING_REQUIRE_SLURM"):
        pytest.fail(f"REASONING_REQUIRE_SLURM is set, but: {reason}")
    pytest.skip(reason)


def _run(*args: str, timeout: float) -> subprocess.CompletedProcess:
    # Output goes to a pipe: local-cluster.sh starts every daemon with its own stdio redirected,
    # so the pipe closes when the script ends.
    return subprocess.run(
        [str(SCRIPT), *args], capture_output=True, text=True, timeout=timeout, check=False
    )


@pytest.fixture(scope="session")
def slurm_cluster():
    if os.geteuid() != 0:
        _skip_or_fail("a local SLURM cluster needs root (daemons, the munge user, apt-get)")
    if shutil.which("slurmctld") is None and shutil.which("apt-get") is None:
        _skip_or_fail("SLURM is not installed and apt-get is not available to install it")

    state_dir = Path(os.environ.get("REASONING_SLURM_DIR", "/tmp/reasoning-slurm"))
    slurm_conf = state_dir / "etc" / "slurm.conf"
    already_running = SCRIPT.exists() and _run("status", timeout=30).returncode == 0

    if not already_running:
        started = _run("start", timeout=900)
        if started.returncode == INSTALL_FAILED:
            _skip_or_fail(f"could not install SLURM:\n{started.stderr[-2000:]}")
        if started.returncode != 0:
            pytest.fail(f"slurm/local-cluster.sh start failed:\n{started.stderr[-4000:]}")

    # Client commands (sbatch, sacct, ... called by submitit) find the cluster through this.
    with pytest.MonkeyPatch.context() as env:
        env.setenv("SLURM_CONF", str(slurm_conf))
        try:
            yield SlurmCluster(state_dir=state_dir, slurm_conf=slurm_conf)
        finally:
            if not already_running:
                stopped = _run("stop", timeout=120)
                if stopped.returncode != 0:
                    print(f"slurm/local-cluster.sh stop failed:\n{stopped.stderr}")
