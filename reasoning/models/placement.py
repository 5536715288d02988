"""Where each model goes: a pure decision by role over a device inventory, with one-line errors.

`device: auto` decides by role: the student takes cuda:0; the teacher cuda:1 when there are two or
more GPUs, else the student's GPU, else cpu. `device_map: auto` spreads a model over every GPU but
the student's (a `max_memory` that leaves the student's GPU out, computed here; a `max_memory` given
in the preset overrides it). `place` never looks at the machine: `Inventory.here()` does, so tests
hand it a fake inventory of 0, 1, 2, 4 or 8 GPUs.
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field

import torch

from reasoning.errors import ReasoningError

log = logging.getLogger(__name__)
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
STUDENT_GPU = 0  # the users' layout: the student owns the first GPU, the teacher the ones after it
ROLE_GPU = {"student": 0, "teacher": 1}  # where `device: auto` puts each role when that GPU exists
GIB = 2 ** 30
HEADROOM = 0.9  # share of a GPU a computed max_memory gives a spread model's weights (activations, KV cache)
PLACED: dict[str, dict] = {}  # role -> where this process put it (filled by the loader, read by environment)


@dataclass(frozen=True)
class Inventory:
    """The GPUs this process sees, as the total bytes of each."""

    gpu_bytes: tuple[int, ...] = ()

    @classmethod
    def here(cls) -> "Inventory":
        count = torch.cuda.device_count()
        return cls(tuple(torch.cuda.get_device_properties(i).total_memory for i in range(count)))

    @property
    def count(self) -> int:
        return len(self.gpu_bytes)


@dataclass(frozen=True)
class Placement:
    """One model's place: a single device, or a device_map spread (over `max_memory`'s GPUs if given)."""

    role: str
    device: str | None = None
    device_map: str | None = None
    max_memory: dict = field(default_factory=dict)

    @property
    def gpus(self) -> tuple[int, ...]:
        if self.device and self.device.startswith("cuda"):
            return (int(self.device.partition(":")[2] or 0),)
        return tuple(sorted(k for k in self.max_memory if isinstance(k, int)))

    def kwargs(self) -> dict:
        """from_pretrained's placement arguments."""
        if self.device_map is None:
            return {"device_map": self.device}
        return {"device_map": self.device_map, **({"max_memory": dict(self.max_memory)} if self.max_memory else {})}

    def describe(self) -> str:
        if self.device_map is None:
            return self.device
        over = ", ".join(f"cuda:{g}" for g in self.gpus) or "every device accelerate sees"
        return f"device_map={self.device_map} over {over}"


def place(role: str, device: str | None = "auto", device_map: str | None = None, max_memory: dict | None = None,
          inventory: Inventory = Inventory(), student_gpus: tuple[int, ...] = (STUDENT_GPU,)) -> Placement:
    """Decide one model's placement. `student_gpus`: the GPUs the student holds (the teacher keeps off them)."""
    if device_map and device not in (None, "auto"):
        raise ReasoningError(f"{role}.device={device} and {role}.device_map={device_map} are both set; "
                             f"keep one (e.g. {role}.device_map=null)")
    if device_map:
        return _spread(role, device_map, max_memory, inventory, student_gpus)
    if max_memory:
        raise ReasoningError(f"{role}.max_memory is set but {role}.device_map is not; set {role}.device_map=auto "
                             f"or {role}.max_memory=null")
    if device in (None, "auto"):
        return Placement(role, device=_auto_device(role, inventory.count, student_gpus))
    return Placement(role, device=resolve_device(device, role, inventory.count))


def _auto_device(role: str, count: int, student_gpus: tuple[int, ...]) -> str:
    if count == 0:
        return "cpu"
    if role == "teacher":
        free = [g for g in range(count) if g not in student_gpus]
        return f"cuda:{free[0] if free else min(student_gpus or (0,))}"
    wanted = ROLE_GPU.get(role, 0)
    return f"cuda:{wanted if wanted < count else 0}"


def _spread(role, device_map, max_memory, inventory: Inventory, student_gpus) -> Placement:
    if max_memory:  # the preset's own table wins
        check_max_memory(max_memory, role, inventory.count)
        return Placement(role, device_map=device_map, max_memory=dict(max_memory))
    if inventory.count == 0:
        return Placement(role, device="cpu")  # nothing to spread over
    gpus = range(inventory.count)
    if role == "teacher":
        gpus = [g for g in gpus if g not in student_gpus] or list(gpus)  # one GPU: share it
    return Placement(role, device_map=device_map, max_memory={g: int(inventory.gpu_bytes[g] * HEADROOM) for g in gpus})


def check_fits(placement: Placement, need_bytes: int, free_bytes: dict[int, int], dtype: str) -> None:
    """Refuse, before loading, a model whose parameters cannot fit the free memory of its GPUs."""
    gpus = placement.gpus
    if not gpus or need_bytes <= 0:
        return
    offload = {k: v for k, v in placement.max_memory.items() if k in ("cpu", "disk")}
    room = sum(min(free_bytes.get(g, 0), _bytes(placement.max_memory.get(g, free_bytes.get(g, 0)))) for g in gpus)
    room += sum(_bytes(v) for v in offload.values())  # a max_memory with cpu/disk: accelerate offloads the rest
    if need_bytes > room:
        where = ", ".join(f"cuda:{g}" for g in gpus)
        others = [r for r, p in PLACED.items() if r != placement.role and set(p["gpus"]) & set(gpus)]
        held = f" ({' and '.join(others)} already there)" if others else ""
        raise ReasoningError(f"{placement.role} needs ~{need_bytes / GIB:.1f} GiB for its {dtype} parameters but "
                             f"{where} has {room / GIB:.1f} GiB free{held}; put {placement.role} on another GPU "
                             f"({placement.role}.device=cuda:N or {placement.role}.device_map=auto) or use a "
                             "smaller dtype")


def _bytes(size) -> int:
    """70 * 2**30, "70GiB" or "70GB" -> bytes (accelerate's own reading of max_memory values)."""
    from accelerate.utils import convert_file_size_to_int

    return convert_file_size_to_int(size)


def resolve_device(device: str, role: str, count: int | None = None) -> str:
    """`cpu`, `cuda`, `cuda:N`, `mps` or `auto` (by role, see `place`) -> a torch device string."""
    count = torch.cuda.device_count() if count is None else count
    if device == "auto":
        return _auto_device(role, count, (STUDENT_GPU,))
    if device == "mps" and not torch.backends.mps.is_available():
        raise ReasoningError(f"{role}.device=mps but this machine has no Apple GPU (MPS); set {role}.device=cpu or auto")
    if device in ("cpu", "mps"):
        return device
    match = re.fullmatch(r"cuda(?::(\d+))?", device)
    if not match:
        raise ReasoningError(f"{role}.device={device} is not a device; use cpu, auto, cuda or cuda:N")
    index = int(match.group(1) or 0)
    if index >= count:
        have = "no CUDA device" if count == 0 else f"only cuda:0..cuda:{count - 1}"
        raise ReasoningError(
            f"{role}.device={device} but this machine has {have}; set {role}.device=cpu or auto"
        )
    return f"cuda:{index}"


def resolve_dtype(dtype: str, role: str, device: str = "cpu") -> torch.dtype | str:
    """A dtype knob -> what `from_pretrained` takes. `auto`: the checkpoint's own dtype. `fast`: bfloat16
    where `device` computes it natively (CUDA, a CPU with bf16 instructions: see `cpu_has_native_bf16`),
    else float32. Without them bf16 is emulated: measured 7x slower than float32 in a matmul and ~6
    prefill tokens/s for the 1.5B on a 2-core AVX2 CPU; 2.2x (decode shapes) and 3.6x (prefill shapes)
    slower on a 2-core AVX-512 Xeon without AVX512_BF16."""
    if dtype == "auto":
        return "auto"
    if dtype == "fast":
        return DTYPES[fast_dtype(device)]
    if dtype not in DTYPES:
        raise ReasoningError(f"{role}.dtype={dtype} is not supported; use one of {', '.join(DTYPES)} or auto")
    return DTYPES[dtype]


def fast_dtype(device: str) -> str:
    """The name `dtype: fast` stands for on `device` (see `resolve_dtype`)."""
    if device.startswith("cuda") and torch.cuda.is_available():
        return "bfloat16" if torch.cuda.is_bf16_supported() else "float16"
    if device in ("cpu", "cuda"):  # "cuda": a device_map spread on a machine without GPUs lands on the CPU
        return "bfloat16" if cpu_has_native_bf16() else "float32"
    return "float32"


def fast_engine_dtype(gpus) -> str:
    """What `dtype: fast` stands for in a vLLM engine on `gpus` (none: the CPU build)."""
    return "bfloat16" if gpus else fast_dtype("cpu")


def cpu_has_native_bf16() -> bool:
    """Whether this CPU has bf16 instructions. On x86 that is AVX512_BF16 or AMX: oneDNN's own check
    (`_is_mkldnn_bf16_supported`) also says yes on any AVX-512 CPU, where it emulates bf16 with fp32
    instructions at 2-4x float32's time. On ARM oneDNN's check is the bf16 extension itself."""
    if torch.cpu._is_avx512_supported() or torch.cpu._is_avx2_supported():  # x86
        return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())
    return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())


def check_max_memory(max_memory, role: str, count: int | None = None) -> None:
    """The GPUs a `device_map` spreads a model over must exist ("cpu"/"disk" keys need no check)."""
    count = torch.cuda.device_count() if count is None else count
    missing = sorted(k for k in max_memory if isinstance(k, int) and k >= count)
    if missing:
        have = "no CUDA device" if count == 0 else f"only GPUs 0..{count - 1}"
        raise ReasoningError(f"{role}.max_memory names GPU {', '.join(map(str, missing))} but this machine has "
                             f"{have}; name only GPUs it has, or set {role}.max_memory=null")


def forget_placements() -> None:
    """A new run in this process places its models afresh."""
    PLACED.clear()


def record(role: str, model, placement: Placement, dtype: str) -> dict:
    """Where the loaded model's parameters really are, logged and kept for environment.json."""
    devices = sorted({str(p.device) for p in model.parameters()})
    entry = {"placement": placement.describe(), "devices": devices, "gpus": list(placement.gpus), "dtype": dtype,
             "parameters": sum(p.numel() for p in model.parameters()),
             "parameter_bytes": sum(p.numel() * p.element_size() for p in model.parameters())}
    PLACED[role] = entry
    log.info("%s placed: %s on %s, %s, %.2f GiB of parameters", role, placement.describe(), ", ".join(devices),
             dtype, entry["parameter_bytes"] / GIB)
    return entry
