"""GPU memory: tell an out-of-memory error apart, and give the memory back before a retry.

Here so that the runner can split a batch that did not fit without importing torch itself.
"""
from __future__ import annotations


def is_out_of_memory(error: BaseException) -> bool:
    """A CUDA (or other accelerator) allocation failure: the batch may fit when made smaller."""
    import torch

    return isinstance(error, torch.OutOfMemoryError) or (
        isinstance(error, RuntimeError) and "out of memory" in str(error).lower())


def free_memory() -> None:
    """Return the cached blocks of the failed attempt, so the smaller retry starts with room."""
    import gc

    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
