"""Batch-invariant mode (issue 15): a problem's text depends on the problem, not on its batch, the prefix
cache or a resume. On a near-tie tiny model in bf16, where the default mode really does differ."""
import json
import subprocess
import sys

import pytest
import torch

from reasoning.models.hf import HFModel
from reasoning.results import read_records
from reasoning.run import instantiate
from tests.conftest import ROOT, compose, kill_after_records


def _near_tie(hidden: int, layers: int, seed: int):
    """A tiny random Llama with a narrow init: flat logits, so bf16 rounding flips greedy choices."""
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    from reasoning.models.tiny import ensure_tiny

    tokenizer = AutoTokenizer.from_pretrained(ensure_tiny("tiny"))
    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=hidden, intermediate_size=2 * hidden,
                         num_hidden_layers=layers, num_attention_heads=4, num_key_value_heads=2,
                         max_position_embeddings=4096, initializer_range=0.1, bos_token_id=None,
                         eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)
    return LlamaForCausalLM(config).to(torch.bfloat16).eval(), tokenizer


@pytest.fixture(scope="module")
def near_tie_pair():
    return _near_tie(64, 2, 0), _near_tie(96, 3, 1)


@pytest.fixture(scope="module")
def questions():
    from reasoning.data import load_synthetic
    return load_synthetic(n=5, limit=5)  # batch 4 then makes a full and a partial batch


def _models(pair, invariant: bool, cache: bool = True, **decoding):
    (student, s_tok), (teacher, t_tok) = pair
    return {"student": HFModel("student", student, s_tok, batch_invariant=invariant, prefix_cache=cache, **decoding),
            "teacher": HFModel("teacher", teacher, t_tok, batch_invariant=invariant, prefix_cache=cache, **decoding)}


SETTINGS = {
    "baseline": ["setting=baseline", "setting.max_new_tokens=40"],
    "skyline": ["setting=skyline", "setting.max_new_tokens=40"],
    "feedback": ["setting=feedback", "setting.max_rounds=2", "setting.max_new_tokens=24",
                 "setting.review_max_new_tokens=12"],
    "speculative": ["setting=speculative", "setting.granularity=token", "setting.criterion=argmax",
                    "setting.max_new_tokens=16"],
}


def _texts(overrides, models_of, problems, batch_size: int, resume_at: int | None = None):
    """Every generated text of every problem, solved in batches the way the runner does; `resume_at`:
    a fresh process (new models, empty caches) takes over from that problem on."""
    cfg = compose(*overrides)
    parts = [problems] if resume_at is None else [problems[:resume_at], problems[resume_at:]]
    texts = []
    for part in parts:
        models = models_of()
        setting = instantiate(cfg.setting, **{r: m for r, m in models.items() if r in _wanted(cfg)})
        for start in range(0, len(part), batch_size):
            for trace in setting.solve(part[start:start + batch_size]):
                texts.append([trace.response] + [e.get("text") for e in trace.events])
    return texts


def _wanted(cfg):
    import inspect

    from hydra.utils import get_class
    return inspect.signature(get_class(cfg.setting._target_)).parameters


@pytest.mark.parametrize("setting", SETTINGS)
def test_in_the_mode_batch_cache_and_resume_do_not_change_a_text(near_tie_pair, questions, setting):
    overrides = SETTINGS[setting]
    one = _texts(overrides, lambda: _models(near_tie_pair, True), questions, 1)
    assert one == _texts(overrides, lambda: _models(near_tie_pair, True), questions, 4)
    assert one == _texts(overrides, lambda: _models(near_tie_pair, True, cache=False), questions, 4)
    assert one == _texts(overrides, lambda: _models(near_tie_pair, True), questions, 4, resume_at=2)


def test_in_the_mode_token_argmax_gives_the_teachers_own_text_in_bf16(near_tie_pair):
    """Lossless in bf16, not only in float32: the teacher's verification pass computes every draft
    position exactly as its own decoding does (each token alone over the same past). Prefilling in
    blocks of 32 instead made 5 of these 8 texts differ."""
    from reasoning.data import load_synthetic

    problems = load_synthetic(n=8, limit=8)
    spec = _texts([*SETTINGS["speculative"], "setting.max_new_tokens=48"], lambda: _models(near_tie_pair, True),
                  problems, 4)
    alone = _texts(["setting=skyline", "setting.max_new_tokens=48"], lambda: _models(near_tie_pair, True),
                   problems, 4)
    assert [t[0] for t in spec] == [t[0] for t in alone]


def test_without_the_mode_the_near_tie_model_does_depend_on_the_batch(near_tie_pair):
    """Otherwise the tests above prove nothing: on these 8 prompts the default mode differs between
    batch 1 (cache on) and batch 4 (cache off) (3 of 8 texts when written), and the mode does not."""
    from reasoning.data import load_synthetic

    (model, tokenizer), _ = near_tie_pair
    prompts = [HFModel("m", model, tokenizer).encode_chat(p.question) for p in load_synthetic(n=8, limit=8)]
    texts = {}
    for mode in (False, True):
        one = HFModel("m", model, tokenizer, batch_invariant=mode)
        four = HFModel("m", model, tokenizer, batch_invariant=mode, prefix_cache=False)
        texts[mode] = ([one.generate([p], 48)[0].ids for p in prompts],
                       [g.ids for i in range(0, 8, 4) for g in four.generate(prompts[i:i + 4], 48)])
    assert sum(a != b for a, b in zip(*texts[False])) >= 1
    assert texts[True][0] == texts[True][1]


def test_in_the_mode_a_warm_cache_serves_every_computed_token_and_changes_nothing(near_tie_pair):
    (model, tokenizer), _ = near_tie_pair
    warm = HFModel("m", model, tokenizer, batch_invariant=True)
    cold = HFModel("m", model, tokenizer, batch_invariant=True, prefix_cache=False)
    prompt = warm.encode_chat("Ann has 12 apples and buys 30 more. Step 1: 12 + 30 = 42. " * 2)
    first, = warm.generate([prompt], 24)
    longer = prompt + first.ids
    again, = warm.generate([longer], 24)  # served from the cache: all but the last token of `first`
    fresh, = cold.generate([longer], 24)
    assert again.ids == fresh.ids
    assert again.cost.cached_tokens == len(longer) - 1
    scored, = warm.score([longer], [again.ids])
    plain, = cold.score([longer], [again.ids])
    assert scored.logprobs == plain.logprobs and scored.argmax_ids == plain.argmax_ids


def test_in_the_mode_every_computed_token_is_a_forward_pass_of_its_own(near_tie_pair):
    """The mode runs prompt and draft tokens one by one, so the cost must count those passes, not one
    pass per call (else a verification looks as cheap as in a batched prefill)."""
    (model, tokenizer), _ = near_tie_pair
    prompt = HFModel("m", model, tokenizer).encode_chat("Ann has 12 apples and buys 30 more.")
    for mode in (False, True):
        m = HFModel("m", model, tokenizer, batch_invariant=mode, prefix_cache=False)
        written, = m.generate([prompt], 8)
        scored, = m.score([prompt], [written.ids])
        assert written.cost.forward_passes == (written.cost.computed_tokens if mode else len(written.ids))
        assert scored.cost.forward_passes == (len(prompt) + len(written.ids) if mode else 1)


def test_sampling_with_one_seed_gives_the_same_texts_at_two_batch_sizes(near_tie_pair, questions):
    sample = dict(do_sample=True, temperature=0.9, top_p=0.95)
    one = _texts(SETTINGS["baseline"], lambda: _models(near_tie_pair, True, **sample), questions, 1)
    four = _texts(SETTINGS["baseline"], lambda: _models(near_tie_pair, True, **sample), questions, 4)
    greedy = _texts(SETTINGS["baseline"], lambda: _models(near_tie_pair, True), questions, 4)
    assert one == four and one != greedy


def test_the_sampling_seed_is_the_run_seed_and_the_prompt():
    from reasoning.models.hf import row_seed
    assert row_seed(0, [1, 2, 3]) == row_seed(0, [1, 2, 3])
    assert len({row_seed(0, [1, 2, 3]), row_seed(1, [1, 2, 3]), row_seed(0, [1, 2, 4])}) == 3


def test_a_run_killed_after_its_first_batch_resumes_to_the_same_records(tmp_path):
    """A real `python -m reasoning`, SIGKILLed after batch one and rerun, against an uninterrupted run."""
    common = ["setting=baseline", "dataset.limit=8", "run.batch_size=4", "setting.max_new_tokens=32",
              "student=tiny", "student.dtype=bfloat16", "run.batch_invariant=true", "run.progress=false"]
    whole, killed = tmp_path / "whole", tmp_path / "killed"
    subprocess.run([sys.executable, "-m", "reasoning", *common, f"hydra.run.dir={whole}"], cwd=ROOT, check=True,
                   capture_output=True)
    cmd = [sys.executable, "-m", "reasoning", *common, "run.batch_size=1", f"hydra.run.dir={killed}"]
    assert 1 <= kill_after_records(cmd, killed / "results.jsonl", 1) < 8, "the run should have been killed mid-way"
    subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True)
    texts = {r["id"]: r["response"] for r in read_records(whole / "results.jsonl")}
    assert {r["id"]: r["response"] for r in read_records(killed / "results.jsonl")} == texts
    # Costs aside (seconds; a resume's empty cache computes more tokens), the summaries are the same.
    summaries = [{k: v for k, v in json.loads((d / "summary.json").read_text()).items() if not k.startswith("cost")}
                 for d in (whole, killed)]
    assert summaries[0] == summaries[1] and summaries[0]["n"] == 8


FAST = ["setting=baseline", "student=tiny", "setting.max_new_tokens=4", "run.progress=false"]


def test_a_resume_after_editing_a_template_is_refused_naming_it(tmp_path):
    from reasoning.errors import ReasoningError
    from reasoning.run import run

    template = tmp_path / "mine.txt"
    template.write_text("Solve: $question\n")
    overrides = [*FAST, f"setting.prompt={template}", "dataset.limit=1"]
    run(compose(*overrides), tmp_path / "run")
    template.write_text("Solve step by step: $question\n")
    with pytest.raises(ReasoningError, match=r"another text of prompt template .*mine\.txt \(setting\.prompt\)"):
        run(compose(*overrides, "dataset.limit=2"), tmp_path / "run")
    template.write_text("Solve: $question\n")  # the same text again: the run resumes
    assert run(compose(*overrides, "dataset.limit=2"), tmp_path / "run")["n"] == 2


def test_a_resume_with_another_batch_size_keeps_config_yaml_and_says_so_in_history(tmp_path):
    from omegaconf import OmegaConf

    from reasoning.run import run

    out = tmp_path / "run"
    run(compose(*FAST, "dataset.limit=1", "run.batch_size=4"), out)
    run(compose(*FAST, "dataset.limit=2", "run.batch_size=1"), out)
    saved = OmegaConf.load(out / "config.yaml")
    assert saved.run.batch_size == 4 and saved.dataset.limit == 2 and "prompt" in saved.prompts
    history = [json.loads(line) for line in (out / "history.jsonl").read_text().splitlines()]
    assert [h["resumed_after"] for h in history] == [0, 1]
    assert history[1]["differs_from_config"] == {"run.batch_size": 1, "dataset.limit": 2}
    records = read_records(out / "results.jsonl")
    assert {r["schema_version"] for r in records} == {2}
    assert json.loads((out / "environment.json").read_text())["batch_invariant"] is False


# --- the noise floor, as pure functions -------------------------------------------------------------
def _frame(runs: dict[str, list[bool]]):
    import pandas as pd
    rows = [{"run": run, "id": f"p{i}", "question": f"q{i}", "correct": c, "setting": "baseline"}
            for run, flags in runs.items() for i, c in enumerate(flags)]
    return pd.DataFrame(rows)


def test_the_noise_floor_counts_problems_that_flip_across_reruns():
    from reasoning.results.noise import noise_floor

    floor = noise_floor(_frame({"a": [True, True, False, False], "b": [True, False, False, True],
                                "c": [True, True, True, False]}))
    assert (floor.reruns, floor.problems, floor.flipping, floor.worst_pair) == (3, 4, 3, 3)
    assert "3 of 4 problems flip correctness across 3 reruns of one config (baseline)" in floor.line()
    assert noise_floor(_frame({"a": [True, False], "b": [True, False]})).flipping == 0


def test_a_paired_split_within_the_floor_is_warned_and_one_beyond_it_is_not():
    from reasoning.results.noise import NoiseFloor, noise_section
    from reasoning.results.paired import paired_table

    paired = paired_table(_frame({"ref": [True] * 2 + [False] * 8, "close": [False] * 2 + [True] * 3 + [False] * 5,
                                  "far": [True] * 10}))
    lines = noise_section(paired.rename(index={}), NoiseFloor(3, 10, 1, 1))
    assert lines[0].startswith("Noise floor: 1 of 10")
    assert len(lines) == 2 and "close" in lines[1] and "gap 1" in lines[1]
    # A floor from reruns of 5 problems (1 flip) is 2 flips on these 10: "close" (gap 1) stays within it,
    # and a floor read as a bare count would not scale.
    assert NoiseFloor(2, 5, 1, 1).expected_on(10) == 2
    far_gap = int(paired.loc["far"].only_this_right) - int(paired.loc["far"].only_reference_right)
    assert len(noise_section(paired, NoiseFloor(2, 10, far_gap, far_gap))) == 3  # both warned at a floor that wide


def test_compare_records_counts_texts_answers_and_correctness_flips():
    from reasoning.results.noise import Difference, compare_records

    a = [{"id": "1", "response": "x", "answer": "2", "correct": True},
         {"id": "2", "response": "y", "answer": "3", "correct": False},
         {"id": "3", "response": "z", "answer": "4", "correct": True}]
    b = [{"id": "2", "response": "y!", "answer": "3", "correct": False},
         {"id": "1", "response": "w", "answer": "5", "correct": False}]
    assert compare_records(a, b) == Difference(problems=2, texts_differ=2, answers_differ=1, correct_flips=1)


def test_the_reproducibility_benchmark_runs_on_tiny_models(tmp_path):
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import reproducibility

    rows = reproducibility.main(["--smoke", "--batch", "2", "--out", str(tmp_path)])
    assert len(rows) == 1 + len(reproducibility.variants(2, 4, "false")) + len(reproducibility.variants(2, 4, "true"))
    assert all(r["problems"] == 4 for r in rows)
    assert all(r["texts_differ"] == 0 for r in rows if r["batch_invariant"] == "true"
               and not r["what differs"].startswith("float32"))
    assert "| batch 1 | true | 4 | 0 | 0 | 0 |" in (tmp_path / "table.md").read_text()
    killed = tmp_path / "invariant-true" / reproducibility._slug(reproducibility.KILLED)
    starts = [json.loads(line) for line in (killed / "history.jsonl").read_text().splitlines()]
    assert len(starts) == 2 and starts[1]["resumed_after"] >= 2  # killed after its first batch, then rerun
