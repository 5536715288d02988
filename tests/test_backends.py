"""One contract, every backend: transformers with and without its prefix cache, vLLM, and the scripted
fake. What the settings rely on (reasoning.models.types.LanguageModel) is checked here for each."""
import pytest

from reasoning.models.hf import HFModel
from reasoning.models.vllm_placement import CPU_BLOCK_SIZE
from scripted import ScriptedModel

BACKENDS = ["hf", "hf-no-cache", "vllm", "scripted"]
REAL = [b for b in BACKENDS if b != "scripted"]


@pytest.fixture(scope="module")
def models(tiny_teacher, vllm_pair):
    """Every backend's tiny teacher (float32, greedy); the scripted fake answers with fixed text."""
    return {
        "hf": tiny_teacher,
        "hf-no-cache": HFModel("tiny-teacher", tiny_teacher.model, tiny_teacher.tokenizer, prefix_cache=False),
        "vllm": vllm_pair[1],
        "scripted": ScriptedModel(reply=lambda prompt: "Step 1: 2 + 3 = 5.\nThe answer is 5."),
    }


def prompts_of(model, n=3):
    questions = ["Ann has 3 apples and buys 4 more.", "Ben has 12 pens.", "Cara has 7 coins and 9 books."]
    return [model.encode_chat(q) for q in questions[:n]]


@pytest.mark.parametrize("backend", REAL)
def test_greedy_ids_are_the_same_on_every_backend_in_float32(models, backend):
    reference = models["hf"].generate(prompts_of(models["hf"]), 24)
    got = models[backend].generate(prompts_of(models[backend]), 24)
    assert [g.ids for g in got] == [r.ids for r in reference]
    assert [g.text for g in got] == [r.text for r in reference]
    assert [g.finish_reason for g in got] == [r.finish_reason for r in reference]


@pytest.mark.parametrize("backend", BACKENDS)
def test_score_over_a_greedy_continuation_agrees_with_it(models, backend):
    model = models[backend]
    prompts = prompts_of(model)
    generations = model.generate(prompts, 16)
    continuations = [g.ids[:-1] if g.finish_reason == "eos" else g.ids for g in generations]
    scores = model.score(prompts, continuations)
    for generation, continuation, score in zip(generations, continuations, scores):
        assert score.argmax_ids == continuation
        assert len(score.logprobs) == len(continuation) == len(score.argmax_logprobs)
        assert all(lp <= 1e-6 for lp in score.logprobs)
        assert score.logprobs == pytest.approx(score.argmax_logprobs, abs=1e-5)  # greedy: the argmax itself
        if len(generation.ids) > len(continuation):  # the token after it is the greedy next one
            assert score.next_argmax_id == generation.ids[len(continuation)]


@pytest.mark.parametrize("backend", REAL)
def test_log_probs_and_asked_tokens_agree_across_backends(models, backend):
    reference, model = models["hf"], models[backend]
    prompts = prompts_of(model, 2)
    continuations = [model.encode(" 5 + 7 = 12."), model.encode(" The answer is 3.")]
    asked = model.encode(" Yes No")[:2]
    want = reference.score(prompts, continuations, next_tokens=asked)
    got = model.score(prompts, continuations, next_tokens=asked)
    for g, w in zip(got, want):
        assert g.logprobs == pytest.approx(w.logprobs, abs=1e-3)
        assert g.argmax_ids == w.argmax_ids and g.next_argmax_id == w.next_argmax_id
        assert set(g.next_logprobs) == set(asked)
        assert [g.next_logprobs[t] for t in asked] == pytest.approx([w.next_logprobs[t] for t in asked], abs=1e-3)


@pytest.mark.parametrize("backend", BACKENDS)
def test_budgets_per_row_including_zero(models, backend):
    model = models[backend]
    prompts = prompts_of(model)
    got = model.generate(prompts, [0, 1, 5])
    assert got[0].ids == [] and got[0].text == "" and got[0].finish_reason == "length"
    c = got[0].cost  # no token written; the prompt may still have been computed as part of the batch
    assert c.generated_tokens == 0 and c.forward_passes == 0 and c.computed_tokens <= c.prompt_tokens - c.cached_tokens
    assert len(got[1].ids) == 1 and got[1].finish_reason in ("length", "eos")
    assert 1 <= len(got[2].ids) <= 5
    assert got[2].finish_reason == ("length" if len(got[2].ids) == 5 and got[2].ids[-1] not in model.eos_ids else got[2].finish_reason)


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_stop_string_ends_the_row_where_it_is_completed(models, backend):
    model = models[backend]
    prompt = prompts_of(model, 1)[0]
    free = model.generate([prompt], 24)[0]
    text = free.text
    assert len(text) > 6, "the model writes too little to pick a stop string from"
    stop = text[3:5]  # a stop string the unconstrained text contains
    stopped = model.generate([prompt], 24, stop=[stop])[0]
    assert stopped.finish_reason == "stop"
    assert stop in stopped.text and stop not in model.decode(stopped.ids[:-1])  # its last token completes it
    assert stopped.ids == free.ids[:len(stopped.ids)]


@pytest.mark.parametrize("backend", BACKENDS)
def test_eos_ends_a_row_and_is_kept_in_its_ids(models, backend):
    model = models[backend]
    rows = model.generate(prompts_of(model), 200)
    ended = [g for g in rows if g.finish_reason == "eos"]
    assert ended, "no row reached eos in 200 tokens"
    for g in ended:
        assert g.ids[-1] in model.eos_ids and not set(g.ids[:-1]) & model.eos_ids
    for g in rows:
        assert g.finish_reason == "eos" or len(g.ids) == 200


@pytest.mark.parametrize("backend", BACKENDS)
def test_cost_fields_add_up(models, backend):
    model = models[backend]
    prompts = prompts_of(model)
    model.generate(prompts, 8)  # the second call may find these prefixes cached
    for prompt, g in zip(prompts, model.generate(prompts, 8)):
        c = g.cost
        assert c.prompt_tokens == len(prompt) and c.generated_tokens == len(g.ids) == c.forward_passes
        assert 0 <= c.cached_tokens <= c.prompt_tokens
        if backend != "scripted":  # the fake computes nothing
            assert c.computed_tokens == c.prompt_tokens - c.cached_tokens + max(len(g.ids) - 1, 0)
            assert c.seconds > 0
    conts = [model.encode(" 1 + 1 = 2.")] * len(prompts)
    for prompt, cont, s in zip(prompts, conts, model.score(prompts, conts)):
        assert s.cost.prompt_tokens == len(prompt) + len(cont) and s.cost.forward_passes == 1
        if backend != "scripted":
            assert s.cost.computed_tokens == s.cost.prompt_tokens - s.cost.cached_tokens > 0


@pytest.mark.parametrize("backend", ["hf", "vllm"])
def test_a_repeated_call_reads_the_prefix_cache(models, backend):
    model = models[backend]
    # vLLM caches whole blocks (32 tokens here on CPU, 16 on GPUs): a prompt of several hundred tokens
    long_prompt = model.encode_chat("Ann has 3 apples and buys 4 more. " * 40)
    model.generate([long_prompt], 4)
    again = model.generate([long_prompt], 4)[0]
    assert again.cost.cached_tokens >= 128 and again.cost.computed_tokens < len(long_prompt) - 100


@pytest.mark.parametrize("backend", ["hf", "vllm"])
def test_a_verification_reads_the_last_rounds_context_from_the_cache(models, backend):
    """Speculative rounds score the same context again with a longer draft: only the new tokens are
    computed, and the log-probs equal a cold scoring's (the reference backend's)."""
    model, reference = models[backend], models["hf"]
    context = model.encode_chat("Ann has 3 apples and buys 4 more. " * 40)
    first, second = model.encode(" 3 + 4 = 7. She has 7 apples."), model.encode(" She gives 2 away, so 5 are left.")
    model.score([context], [first])
    got = model.score([context + first], [second])[0]
    want = reference.score([context + first], [second])[0]
    assert got.cost.cached_tokens >= 128 and got.cost.computed_tokens < len(context) - 100
    if backend == "vllm":  # the engine's CPU blocks are 32 tokens: it re-reads less than one block
        assert len(context + first) - got.cost.cached_tokens < CPU_BLOCK_SIZE
    assert got.argmax_ids == want.argmax_ids and got.next_argmax_id == want.next_argmax_id
    assert got.logprobs == pytest.approx(want.logprobs, abs=1e-3)


@pytest.mark.parametrize("backend", ["vllm"])
def test_a_cache_hit_inside_the_continuation_is_computed_again(models, backend):
    """A row whose cached blocks reach past its start has no log-probs for those positions: it is scored
    again whole (not read from unwritten memory), and both passes are counted."""
    model, reference = models[backend], models["hf"]
    ids = model.encode_chat("Cara has 7 coins and 9 books. " * 40)
    model.score([ids[:1]], [ids[1:]])  # caches every whole block of ids
    got = model.score([ids[:200]], [ids[200:]])[0]  # a continuation starting inside a cached block
    want = reference.score([ids[:200]], [ids[200:]])[0]
    c = got.cost
    assert c.cached_tokens >= 200 and c.forward_passes == 2 and c.computed_tokens == 2 * c.prompt_tokens - c.cached_tokens
    assert got.argmax_ids == want.argmax_ids
    assert got.logprobs == pytest.approx(want.logprobs, abs=1e-3)


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_contract_is_all_there(models, backend):
    model = models[backend]
    assert isinstance(model.name, str) and model.eos_ids and isinstance(model.eos_ids, frozenset)
    assert set(model.decoding) == {"do_sample", "temperature", "top_p", "repetition_penalty"}
    assert model.decode(model.encode("Ann has 3 apples")) == "Ann has 3 apples"
    assert model.render_chat("hi") and model.encode_chat([{"role": "user", "content": "hi"}]) == model.encode_chat("hi")
    assert callable(model.close)
