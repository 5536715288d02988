"""The transformers backend: one model + tokenizer behind the batch-first `LanguageModel` interface."""
from __future__ import annotations

import logging
import time
import zlib
from typing import Sequence

import numpy as np
import torch

from reasoning import progress
from reasoning.models.kv_batch import KVBatch, TokenRow
from reasoning.models.prefix_cache import PrefixCache
from reasoning.models.types import Conversation, Cost, Generation, Scores, as_messages

log = logging.getLogger(__name__)


class Tokenized:
    """Text <-> ids through `self.tokenizer` (a transformers tokenizer), shared by every real backend."""

    tokenizer: object

    def render_chat(self, messages: Conversation) -> str:
        return self.tokenizer.apply_chat_template(as_messages(messages), add_generation_prompt=True, tokenize=False)

    def encode_chat(self, messages: Conversation) -> list[int]:
        return self.encode(self.render_chat(messages))

    def encode(self, text: str) -> list[int]:
        return self.tokenizer(text, add_special_tokens=False)["input_ids"]

    def decode(self, ids: Sequence[int]) -> str:
        return self.tokenizer.decode(list(ids), skip_special_tokens=True)


class HFModel(Tokenized):
    """A loaded causal LM. Inputs go to the device of its embedding layer (also under `device_map`).

    Decoding follows only the knobs given here (recorded in `decoding`), never the checkpoint's own
    generation_config: many hub checkpoints set e.g. `repetition_penalty`, which would make `generate`
    disagree with `score`'s raw log-probs. With `prefix_cache` on, every call reuses the keys/values of
    the longest prefix it has already computed (see `prefix_cache.py`); results are the same either way.
    """

    def __init__(self, name: str, model, tokenizer, *, do_sample: bool = False, temperature: float = 1.0,
                 top_p: float = 1.0, repetition_penalty: float = 1.0, prefix_cache: bool = True,
                 prefix_cache_tokens: int = 32768, batch_invariant: bool = False, seed: int = 0):
        self.name = name
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.decoding = dict(do_sample=do_sample, temperature=temperature, top_p=top_p,
                             repetition_penalty=repetition_penalty)
        self.input_device = model.get_input_embeddings().weight.device
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        self.eos_ids = frozenset(eos_ids(model.generation_config, tokenizer))
        self._processors = _processors(self.decoding)  # built once: the decode loop runs them every token
        self.batch_invariant = batch_invariant
        self.seed = seed
        # Batch-invariant: every row runs alone, one token per forward pass (see `kv_batch.TokenRow`), so its
        # numbers never depend on its neighbours, the batch's padding or what the prefix cache holds.
        self._open = TokenRow if batch_invariant else KVBatch
        self.cache = PrefixCache(prefix_cache_tokens) if prefix_cache and _can_cache_prefixes(model) else None
        if prefix_cache and self.cache is None:
            log.warning("%s: prefix cache off (sliding-window or non-standard attention layers)", name)
        ignored = _checkpoint_decoding(model)
        if ignored:
            log.info("%s: ignoring the checkpoint's generation_config %s; decoding is %s", name, ignored, self.decoding)

    # --- model calls --------------------------------------------------------------------------------
    @torch.inference_mode()
    def generate(self, prompts, max_new_tokens, stop=()) -> list[Generation]:
        """Batched generation; each row stops at eos, a stop string or its own budget."""
        budgets = _per_row(max_new_tokens, len(prompts))
        if self.batch_invariant:
            return [g for p, b in zip(prompts, budgets) for g in self._generate([p], [b], stop)]
        return self._generate(prompts, budgets, stop) if prompts else []

    @torch.inference_mode()
    def score(self, prompts, continuations, next_tokens=()) -> list[Scores]:
        """Log-probs and greedy tokens over each given continuation, in one forward pass for the batch."""
        if self.batch_invariant:
            return [s for p, c in zip(prompts, continuations) for s in self._score([p], [c], next_tokens)]
        return self._score(prompts, continuations, next_tokens) if prompts else []

    def _generate(self, prompts, budgets: list[int], stop) -> list[Generation]:
        start = time.perf_counter()
        batch = self._open(self.model, [list(p) for p in prompts], [len(p) - 1 for p in prompts], self.cache,
                           self.pad_id, self.input_device)
        logits = batch.prefill(keep=1)[:, -1]
        generated: list[list[int]] = [[] for _ in prompts]
        reasons: list[str | None] = ["length" if b <= 0 else None for b in budgets]  # no room: no token
        window = max((len(s) for s in stop), default=0) + 4  # tokens enough to hold any stop string
        generators = self._generators(prompts, logits.device)
        while True:
            for i, token in enumerate(self._pick(logits, prompts, generated, generators)):
                if reasons[i] is None:
                    generated[i].append(token)
                    reasons[i] = self._finished(generated[i], budgets[i], stop, window)
            if all(reasons):
                break
            progress.decoding(self.name, max(len(g) for g in generated), max(budgets), len(prompts))
            # A row's last token is fed only while it is live; a finished row rides along masked.
            logits = batch.step([None if reasons[i] else row[-1] for i, row in enumerate(generated)])
        if self.cache is not None:
            batch.store(self.cache)
        elapsed = time.perf_counter() - start
        seconds = elapsed / len(prompts)
        progress.model_call(self.name, sum(len(p) - n for p, n in zip(prompts, batch.cached))
                            + sum(max(len(g) - 1, 0) for g in generated), elapsed)
        results = []
        for prompt, ids, reason, cached in zip(prompts, generated, reasons, batch.cached):
            computed = len(prompt) - cached + max(len(ids) - 1, 0)  # the last token is never fed back
            passes = computed if self.batch_invariant else len(ids)  # the mode runs each token alone
            cost = Cost(len(prompt), len(ids), passes, seconds, cached_tokens=cached, computed_tokens=computed)
            results.append(Generation(ids, self.decode(ids), reason, cost))
        return results

    def _score(self, prompts, continuations, next_tokens) -> list[Scores]:
        rows = [list(p) + list(c) for p, c in zip(prompts, continuations)]
        start = time.perf_counter()
        # The last prompt token is always computed: its logits predict the continuation's first token.
        batch = self._open(self.model, rows, [len(p) - 1 for p in prompts], self.cache, self.pad_id,
                           self.input_device)
        # Every row ends at the last column, so only the continuations' logits need to exist.
        keep = max(len(c) for c in continuations) + 1
        logits = batch.prefill(keep)
        if self.cache is not None:
            batch.store(self.cache)
        elapsed = time.perf_counter() - start
        seconds = elapsed / len(rows)
        progress.model_call(self.name, sum(len(r) - n for r, n in zip(rows, batch.cached)), elapsed)
        results = []
        for i, continuation in enumerate(continuations):
            n = len(continuation)
            row_logprobs = torch.log_softmax(logits[i, keep - n - 1:].float(), dim=-1)  # n + 1 positions
            targets = torch.tensor(list(continuation), dtype=torch.long, device=row_logprobs.device)
            chosen = row_logprobs[:n].gather(-1, targets[:, None]).squeeze(-1) if n else targets.float()
            best_logprobs, best_ids = row_logprobs.max(dim=-1)
            cached = batch.cached[i]
            results.append(Scores(
                logprobs=chosen.tolist(), argmax_ids=best_ids[:n].tolist(),
                argmax_logprobs=best_logprobs[:n].tolist(), next_argmax_id=int(best_ids[n]),
                cost=Cost(len(rows[i]), 0, len(rows[i]) - cached if self.batch_invariant else 1, seconds,
                          cached_tokens=cached, computed_tokens=len(rows[i]) - cached),
                next_logprobs={t: float(row_logprobs[n, t]) for t in next_tokens},
            ))
        return results

    def close(self) -> None:
        if self.cache is not None:
            self.cache = PrefixCache(self.cache.max_tokens)  # the weights go with the last reference

    # --- helpers ------------------------------------------------------------------------------------
    def _generators(self, prompts, device) -> list | None:
        """Sampling draws from one generator per row, seeded from the run's seed and the row's prompt:
        a sampled text depends on its own prompt only, never on its batch or on what ran before."""
        if not self.decoding["do_sample"]:
            return None
        return [torch.Generator(device=device).manual_seed(row_seed(self.seed, p)) for p in prompts]

    def _pick(self, logits, prompts, generated, generators=None) -> list[int]:
        """The next token of every row: greedy, or sampled with the configured processors."""
        scores = logits.float()
        penalty = self.decoding["repetition_penalty"]
        if penalty != 1.0:
            scores = _penalize(scores, [list(p) + g for p, g in zip(prompts, generated)], penalty)
        if self._processors:
            scores = self._processors(None, scores)  # temperature / top-p never read the history
        if generators is None:
            return scores.argmax(dim=-1).tolist()
        probs = torch.softmax(scores, dim=-1)
        return [int(torch.multinomial(row, 1, generator=g)) for row, g in zip(probs, generators)]

    def _finished(self, ids: list[int], budget: int, stop: Sequence[str], window: int) -> str | None:
        if ids[-1] in self.eos_ids:
            return "eos"
        # Checked after every token, so the first hit is where the stop string ends.
        if stop and any(s in self.tokenizer.decode(ids[-window:], skip_special_tokens=True) for s in stop):
            return "stop"
        return "length" if len(ids) >= budget else None


def _per_row(budget: int | Sequence[int], n: int) -> list[int]:
    return [int(budget)] * n if isinstance(budget, int) else [int(b) for b in budget]


def eos_ids(generation_config, tokenizer) -> set[int]:
    """Every token that ends a reply: the generation config's eos list plus the tokenizer's."""
    ids = set()
    configured = getattr(generation_config, "eos_token_id", None)
    if configured is not None:
        ids.update(configured if isinstance(configured, (list, tuple)) else [configured])
    if tokenizer.eos_token_id is not None:
        ids.add(tokenizer.eos_token_id)
    return ids


def row_seed(seed: int, prompt: Sequence[int]) -> int:
    """A row's sampling seed: the run's seed and a checksum of its prompt ids."""
    return (seed * 1_000_003 + zlib.crc32(np.asarray(prompt, dtype=np.int64).tobytes())) % 2 ** 63


def _penalize(scores: torch.Tensor, histories: list[list[int]], penalty: float) -> torch.Tensor:
    """transformers' repetition penalty, but over each row's own tokens: a batch's padding (often the
    eos id) must not count as history, or shorter rows are steered away from eos."""
    scores = scores.clone()
    for i, history in enumerate(histories):
        seen = torch.tensor(sorted(set(history)), dtype=torch.long, device=scores.device)
        picked = scores[i, seen]
        scores[i, seen] = torch.where(picked < 0, picked * penalty, picked / penalty)
    return scores


def _can_cache_prefixes(model) -> bool:
    """Prefix reuse needs plain full-attention layers (a DynamicCache of DynamicLayers)."""
    config = model.config.get_text_config(decoder=True)
    layer_types = getattr(config, "layer_types", None) or ["full_attention"]
    return all(t == "full_attention" for t in layer_types) and not getattr(config, "use_sliding_window", False)


def _checkpoint_decoding(model) -> dict:
    """What the checkpoint's generation_config would change about decoding (and we leave out)."""
    from transformers import GenerationConfig

    defaults, own = GenerationConfig().to_dict(), model.generation_config.to_dict()
    knobs = ("do_sample", "temperature", "top_p", "top_k", "repetition_penalty", "no_repeat_ngram_size", "min_p")
    return {k: own[k] for k in knobs if k in own and own[k] != defaults.get(k)}


def _processors(d: dict):
    """The sampling warpers the decoding knobs ask for (none for greedy)."""
    from transformers import LogitsProcessorList, TemperatureLogitsWarper, TopPLogitsWarper

    chosen = LogitsProcessorList()  # the repetition penalty is `_penalize`: it needs each row's own history
    if d["do_sample"] and d["temperature"] != 1.0:
        chosen.append(TemperatureLogitsWarper(d["temperature"]))
    if d["do_sample"] and d["top_p"] < 1.0:
        chosen.append(TopPLogitsWarper(d["top_p"]))
    return chosen
