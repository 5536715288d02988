"""The transformers backend on tiny real models: batching, padding, stop strings, scoring, costs, devices."""
import pytest
import torch

from reasoning.errors import ReasoningError
from reasoning.models.loaders import load_pretrained
from reasoning.models.placement import resolve_device, resolve_dtype


def test_batched_generation_matches_one_by_one(tiny_student):
    prompts = [tiny_student.encode_chat(q) for q in ["Ann has 3 apples.", "A much longer question " * 5]]
    batched = tiny_student.generate(prompts, 10)
    for prompt, row in zip(prompts, batched):
        alone, = tiny_student.generate([prompt], 10)
        assert row.ids == alone.ids and row.text == alone.text
        assert row.cost.prompt_tokens == len(prompt) and row.cost.generated_tokens == 10
        assert row.finish_reason == "length"


def test_a_repetition_penalty_does_not_depend_on_the_batch_when_pad_is_a_real_token(tiny_student):
    """Issue 16 bug 5: with pad = eos (Llama-3, Qwen2.5) the left padding of shorter rows must not be
    penalised as if it were history. Here pad is the very token the short row writes first alone, so a
    penalised pad would change it."""
    from reasoning.models.hf import HFModel

    model = HFModel("tiny", tiny_student.model, tiny_student.tokenizer, repetition_penalty=3.0, prefix_cache=False)
    prompts = [model.encode_chat(q) for q in ["Ann?", "A much longer question " * 6, "Ben: 7 + 5?"]]
    alone = [model.generate([p], 16)[0] for p in prompts]
    model.pad_id = alone[0].ids[0]
    batched = model.generate(prompts, 16)
    assert [g.ids for g in batched] == [g.ids for g in alone]


def test_the_repetition_penalty_hits_each_rows_own_tokens_once():
    from reasoning.models.hf import _penalize

    scores = torch.tensor([[2.0, -2.0, 1.0, 4.0], [2.0, -2.0, 1.0, 4.0]])
    out = _penalize(scores, [[0, 1, 0], [3]], 2.0)
    assert out.tolist() == [[1.0, -4.0, 1.0, 4.0], [2.0, -2.0, 1.0, 2.0]]


def test_per_row_budgets_and_stop_strings(tiny_student):
    prompt = tiny_student.encode_chat("Count:")
    full, = tiny_student.generate([prompt], 16)
    short, long = tiny_student.generate([prompt, prompt], [4, 16])
    assert short.ids == full.ids[:4] and long.ids == full.ids
    stop = full.text[len(full.text) // 2:][:2]  # a string the model is known to produce
    cut, = tiny_student.generate([prompt], 16, stop=[stop])
    assert cut.finish_reason == "stop" and stop in cut.text and len(cut.ids) < 16
    assert full.text.startswith(cut.text)


def test_score_agrees_with_greedy_generation_and_a_plain_forward_pass(tiny_teacher):
    prompt = tiny_teacher.encode_chat("Ben has 7 pens.")
    gen, = tiny_teacher.generate([prompt], 8)
    short = tiny_teacher.encode_chat("Hi")
    scores, other = tiny_teacher.score([prompt, short], [gen.ids, gen.ids[:3]])  # padded together
    assert scores.argmax_ids == gen.ids  # greedy tokens are the argmax of the scoring pass
    assert all(abs(a - b) < 1e-4 for a, b in zip(scores.logprobs, scores.argmax_logprobs))
    with torch.no_grad():
        logits = tiny_teacher.model(torch.tensor([short + gen.ids[:3]])).logits[0]
    expected = torch.log_softmax(logits[len(short) - 1:-1], -1)[range(3), gen.ids[:3]]
    assert other.logprobs == pytest.approx(expected.tolist(), abs=1e-4)
    assert other.cost.forward_passes == 1 and other.cost.prompt_tokens == len(short) + 3  # read: prompt + continuation


def test_the_tiny_pair_shares_a_tokenizer_and_has_a_chat_template(tiny_student, tiny_teacher):
    text = "Step 1: 12 + 30 = 42\nThe answer is 42."
    assert tiny_student.encode(text) == tiny_teacher.encode(text)
    assert tiny_student.decode(tiny_student.encode(text)) == text
    assert tiny_student.render_chat("Q?").endswith("<|assistant|>\n")
    assert tiny_student.model.num_parameters() < tiny_teacher.model.num_parameters()


@pytest.mark.parametrize("device, message", [
    ("cuda:1", "student.device=cuda:1 but this machine has"), ("gpu", "is not a device"),
])
def test_a_missing_device_is_a_clear_error(device, message):
    if torch.cuda.device_count() > 1 and device == "cuda:1":
        pytest.skip("this machine has a cuda:1")
    with pytest.raises(ReasoningError, match=message):
        resolve_device(device, "student")


def test_devices_and_dtypes_resolve():
    assert resolve_device("cpu", "student") == "cpu"
    assert resolve_device("auto", "student") == ("cuda:0" if torch.cuda.is_available() else "cpu")
    assert resolve_dtype("bfloat16", "teacher") is torch.bfloat16
    with pytest.raises(ReasoningError, match="teacher.dtype=fp8"):
        resolve_dtype("fp8", "teacher")


def test_a_missing_local_model_path_is_a_clear_error(tmp_path):
    with pytest.raises(ReasoningError, match=r"teacher.path=.*does not exist"):
        load_pretrained("llama", str(tmp_path / "nope"), role="teacher")


def test_bf16_generation_runs():
    from reasoning.models.loaders import load_tiny
    model = load_tiny("tiny", role="student", dtype="bfloat16")
    assert model.model.dtype == torch.bfloat16
    gen, = model.generate([model.encode_chat("Hi")], 4)
    assert len(gen.ids) == 4


def test_max_memory_naming_a_missing_gpu_is_a_clear_error(tmp_path):
    if torch.cuda.device_count() > 3:
        pytest.skip("this machine has a cuda:3")
    with pytest.raises(ReasoningError, match=r"teacher.max_memory names GPU .*3 but this machine has"):
        load_pretrained("llama", "meta-llama/Meta-Llama-3-70B-Instruct", role="teacher", device_map="auto",
                        max_memory={1: "70GiB", 3: "70GiB"})


def test_dtype_fast_is_bfloat16_only_where_the_cpu_computes_it_natively(monkeypatch, tmp_path):
    """Emulated bf16 is several times slower than float32: `fast` must not pick it on such a CPU."""
    from reasoning.models import placement
    from reasoning.models.loaders import load_tiny

    for native, expected in ((True, torch.bfloat16), (False, torch.float32)):
        monkeypatch.setattr(placement, "cpu_has_native_bf16", lambda native=native: native)
        assert placement.fast_dtype("cpu") == str(expected).removeprefix("torch.")
        assert load_tiny("tiny", role="student", dtype="fast").model.dtype == expected
    assert placement.resolve_dtype("fast", "student", "cpu") is torch.float32  # the last patch: no native bf16


@pytest.mark.parametrize("avx512_bf16, amx, expected", [(False, False, False), (True, False, True), (False, True, True)])
def test_an_avx512_cpu_without_bf16_instructions_has_no_native_bf16(monkeypatch, avx512_bf16, amx, expected):
    """oneDNN says bf16 is supported on any AVX-512 CPU, but there it is emulated (measured 2.2-3.6x
    slower than float32 on a Xeon without AVX512_BF16): only the instructions count."""
    from reasoning.models import placement

    monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: True)
    monkeypatch.setattr(torch.cpu, "_is_avx512_supported", lambda: True)
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: avx512_bf16)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: amx)
    assert placement.cpu_has_native_bf16() is expected
    assert placement.fast_dtype("cpu") == ("bfloat16" if expected else "float32")
