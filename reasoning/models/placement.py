"""Device and dtype choices from config strings, with one-line errors that name the fix."""
from __future__ import annotations

import re

import torch

from reasoning.errors import ReasoningError

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def resolve_device(device: str, role: str) -> str:
    """`cpu`, `cuda`, `cuda:N`, `mps` or `auto` (first GPU if there is one, else cpu) -> a torch device string."""
    if device == "auto":
        return "cuda:0" if torch.cuda.is_available() else "cpu"
    if device in ("cpu", "mps"):
        return device
    match = re.fullmatch(r"cuda(?::(\d+))?", device)
    if not match:
        raise ReasoningError(f"{role}.device={device} is not a device; use cpu, auto, cuda or cuda:N")
    index = int(match.group(1) or 0)
    count = torch.cuda.device_count()
    if index >= count:
        have = "no CUDA device" if count == 0 else f"only cuda:0..cuda:{count - 1}"
        raise ReasoningError(
            f"{role}.device={device} but this machine has {have}; set {role}.device=cpu or auto"
        )
    return f"cuda:{index}"


def resolve_dtype(dtype: str, role: str) -> torch.dtype | str:
    if dtype == "auto":
        return "auto"
    if dtype not in DTYPES:
        raise ReasoningError(f"{role}.dtype={dtype} is not supported; use one of {', '.join(DTYPES)} or auto")
    return DTYPES[dtype]


def check_max_memory(max_memory, role: str) -> None:
    """The GPUs a `device_map` spreads a model over must exist ("cpu"/"disk" keys need no check)."""
    count = torch.cuda.device_count()
    missing = sorted(k for k in max_memory if isinstance(k, int) and k >= count)
    if missing:
        have = "no CUDA device" if count == 0 else f"only GPUs 0..{count - 1}"
        raise ReasoningError(f"{role}.max_memory names GPU {', '.join(map(str, missing))} but this machine has "
                             f"{have}; name only GPUs it has, or set {role}.max_memory=null")
