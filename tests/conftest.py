import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # bundled and tiny models never need the network

ROOT = Path(__file__).resolve().parent.parent
CONF = ROOT / "conf"


@pytest.fixture(scope="session")
def tiny_student():
    from reasoning.models.loaders import load_tiny
    return load_tiny("tiny", role="student")


@pytest.fixture(scope="session")
def tiny_teacher():
    from reasoning.models.loaders import load_tiny
    return load_tiny("tiny-teacher", role="teacher")


@pytest.fixture(scope="session")
def problems():
    from reasoning.data import load_synthetic
    return load_synthetic(n=8, limit=8)


def benchmark_script(name: str):
    """A script of benchmarks/ (no package) loaded as a module, registered so dataclasses find it."""
    import importlib.util
    import sys

    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def compose(*overrides: str):
    """The real config, composed as `python -m reasoning OVERRIDES` would."""
    from hydra import compose as hydra_compose, initialize_config_dir

    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return hydra_compose(config_name="config", overrides=list(overrides))


def kill_after_records(cmd: list[str], results, at_least: int, timeout: float = 120) -> int:
    """Start `cmd` (a `python -m reasoning` run), SIGKILL it once `results` holds `at_least` records;
    return how many records were on disk when it died."""
    import signal
    import subprocess
    import time

    from reasoning.results import read_records

    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + timeout
    while time.time() < deadline and len(read_records(results)) < at_least:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    return len(read_records(results))


@pytest.fixture(scope="session")
def vllm_pair():
    """The tiny pair on vLLM engines (each in its own process), started once per pytest run: a run with
    the same models (backend=vllm student=tiny teacher=tiny-teacher) reuses them."""
    from hydra.utils import instantiate

    from reasoning.models.vllm_engine import keep_engines, stop_all

    cfg = compose("backend=vllm", "student=tiny", "teacher=tiny-teacher")
    with keep_engines():
        student = instantiate(cfg.student, role="student", batch_invariant=False, seed=0)
        teacher = instantiate(cfg.teacher, role="teacher", batch_invariant=False, seed=0)
        yield student, teacher
    stop_all()
