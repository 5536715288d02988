"""Prefix caching in the backend: the same tokens and log-probs as without it, less computed."""
import pytest
import torch

from reasoning.models.hf import HFModel
from reasoning.models.prefix_cache import PrefixCache


def twins(model):
    """The same weights behind a cached and an uncached backend."""
    on = HFModel(model.name, model.model, model.tokenizer, prefix_cache=True)
    off = HFModel(model.name, model.model, model.tokenizer, prefix_cache=False)
    return on, off


def test_generation_reuses_prefixes_of_different_lengths_in_one_batch_and_matches_no_cache(tiny_teacher):
    on, off = twins(tiny_teacher)
    a, b = on.encode_chat("Ann has 3 apples."), on.encode_chat("A much longer question " * 4)
    first = on.generate([a, b], 12)
    # Continue a after 5 of its tokens plus one other token; b after all of it; c is new.
    c = on.encode_chat("Fresh")
    rows = [a + first[0].ids[:5] + [7], b + first[1].ids, c]
    again, plain = on.generate(rows, 10), off.generate(rows, 10)
    assert [g.ids for g in again] == [g.ids for g in plain]
    template = next(i for i, (x, y) in enumerate(zip(a, c)) if x != y)  # c shares only the chat template's start
    assert [g.cost.cached_tokens for g in again] == [len(a) + 5, len(b) + len(first[1].ids) - 1, template]
    assert [g.cost.cached_tokens for g in plain] == [0, 0, 0]
    for row, g in zip(rows, again):
        assert g.cost.computed_tokens == len(row) - g.cost.cached_tokens + len(g.ids) - 1
        assert g.cost.prompt_tokens == len(row)


def test_score_with_a_cached_prefix_matches_no_cache(tiny_teacher):
    on, off = twins(tiny_teacher)
    prompt = on.encode_chat("Ben has 7 pens.")
    draft, = on.generate([prompt], 12)
    accepted = prompt + draft.ids[:6]
    continuations = [draft.ids[6:], [5, 9, 11]]
    cached, plain = on.score([accepted, prompt], continuations), off.score([accepted, prompt], continuations)
    for x, y in zip(cached, plain):
        assert x.argmax_ids == y.argmax_ids and x.next_argmax_id == y.next_argmax_id
        assert x.logprobs == pytest.approx(y.logprobs, abs=1e-4)
    assert cached[0].cost.cached_tokens == len(accepted) - 1  # the last prompt token is recomputed for its logits
    assert cached[0].cost.computed_tokens == 1 + len(continuations[0])
    assert plain[0].cost.computed_tokens == len(accepted) + len(continuations[0])


def test_sampling_uses_the_cache_too_and_stays_seeded(tiny_student):
    on = HFModel("tiny", tiny_student.model, tiny_student.tokenizer, do_sample=True, temperature=0.8, top_p=0.9)
    prompt = on.encode_chat("Count:")
    torch.manual_seed(1)
    first, = on.generate([prompt], 8)
    torch.manual_seed(1)
    second, = on.generate([prompt], 8)
    assert first.ids == second.ids and second.cost.cached_tokens == len(prompt) - 1


def test_the_cache_keeps_the_longest_sequences_and_evicts_the_least_recently_used():
    def kv(n):
        return [(torch.zeros(1, n, 2), torch.zeros(1, n, 2))]

    cache = PrefixCache(max_tokens=10)
    cache.store([1, 2, 3], kv(3))
    cache.store([1, 2, 3, 4], kv(4))  # supersedes [1, 2, 3]
    assert len(cache) == 1 and cache.tokens == 4
    cache.store([1, 2], kv(2))  # already inside [1, 2, 3, 4]
    assert len(cache) == 1
    cache.store([9, 9, 9], kv(3))
    assert cache.longest_prefix([1, 2, 3, 4, 5], limit=10)[1] == 4  # touches [1..4]: now the newest
    assert cache.longest_prefix([1, 2, 3, 4, 5], limit=2)[1] == 2
    cache.store([7, 7, 7, 7], kv(4))  # 11 tokens > 10: the least recently used ([9, 9, 9]) goes
    assert cache.longest_prefix([9, 9], limit=5) == (None, 0)
    assert cache.longest_prefix([1, 2], limit=5)[1] == 2 and cache.tokens == 8


def test_stored_keys_and_values_cover_exactly_the_tokens_computed(tiny_teacher):
    on, _ = twins(tiny_teacher)
    prompts = [on.encode_chat("Hi"), on.encode_chat("A longer one " * 3)]
    gens = on.generate(prompts, [3, 9])
    for prompt, gen in zip(prompts, gens):
        entry, n = on.cache.longest_prefix(prompt + gen.ids, limit=10_000)
        assert n == len(prompt) + len(gen.ids) - 1  # the last generated token was never fed
        assert entry.kv[0][0].shape[1] == len(entry.ids)


def test_a_row_without_budget_gets_no_tokens_and_the_others_are_unaffected(tiny_student):
    prompt = tiny_student.encode_chat("Count:")
    none, some = tiny_student.generate([prompt, prompt], [0, 5])
    assert none.ids == [] and none.finish_reason == "length" and none.cost.computed_tokens >= 1
    assert some.ids == tiny_student.generate([prompt], 5)[0].ids
