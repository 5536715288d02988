"""The transformers backend: one model + tokenizer behind the batch-first `LanguageModel` interface."""
from __future__ import annotations

import logging
import time
from typing import Sequence

import torch

from reasoning.models.types import Cost, Generation, Scores

log = logging.getLogger(__name__)


class HFModel:
    """A loaded causal LM. Inputs go to the device of its embedding layer (also under `device_map`)."""

    def __init__(self, name: str, model, tokenizer, *, do_sample: bool = False,
                 temperature: float = 1.0, top_p: float = 1.0):
        self.name = name
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.do_sample = do_sample
        self.temperature = temperature
        self.top_p = top_p
        self.input_device = model.get_input_embeddings().weight.device
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        self.eos_ids = frozenset(_eos_ids(model, tokenizer))

    # --- text <-> ids -------------------------------------------------------------------------------
    def render_chat(self, user_message: str) -> str:
        messages = [{"role": "user", "content": user_message}]
        return self.tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)

    def encode_chat(self, user_message: str) -> list[int]:
        return self.encode(self.render_chat(user_message))

    def encode(self, text: str) -> list[int]:
        return self.tokenizer(text, add_special_tokens=False)["input_ids"]

    def decode(self, ids: Sequence[int]) -> str:
        return self.tokenizer.decode(list(ids), skip_special_tokens=True)

    # --- model calls --------------------------------------------------------------------------------
    @torch.inference_mode()
    def generate(self, prompts, max_new_tokens, stop=()) -> list[Generation]:
        """Batched generation with left padding; each row stops at eos, a stop string or its own budget."""
        if not prompts:
            return []
        budgets = _per_row(max_new_tokens, len(prompts))
        input_ids, attention_mask = self._left_pad(prompts)
        sampling = dict(do_sample=True, temperature=self.temperature, top_p=self.top_p) if self.do_sample \
            else dict(do_sample=False, temperature=None, top_p=None, top_k=None)
        start = time.perf_counter()
        out = self.model.generate(
            input_ids=input_ids, attention_mask=attention_mask, max_new_tokens=max(budgets),
            pad_token_id=self.pad_id, eos_token_id=sorted(self.eos_ids),
            stop_strings=list(stop) or None, tokenizer=self.tokenizer if stop else None, **sampling,
        )
        seconds = (time.perf_counter() - start) / len(prompts)
        new_tokens = out[:, input_ids.shape[1]:].tolist()
        results = []
        for prompt, row, budget in zip(prompts, new_tokens, budgets):
            ids, reason = self._cut(row[:budget], stop, budget)
            cost = Cost(len(prompt), len(ids), len(ids), seconds)
            results.append(Generation(ids, self.decode(ids), reason, cost))
        return results

    @torch.inference_mode()
    def score(self, prompts, continuations) -> list[Scores]:
        """Log-probs and greedy tokens over each given continuation, in one forward pass for the batch."""
        if not prompts:
            return []
        rows = [list(p) + list(c) for p, c in zip(prompts, continuations)]
        input_ids, attention_mask = self._left_pad(rows)
        # Left padding ends every row at the last column, so the continuations' logits are the last
        # columns: keep only those instead of materialising logits for every prompt position.
        keep = max(len(c) for c in continuations) + 1
        position_ids = (attention_mask.cumsum(-1) - 1).clamp(min=0)
        start = time.perf_counter()
        logits = self.model(input_ids=input_ids, attention_mask=attention_mask,
                            position_ids=position_ids, logits_to_keep=keep).logits
        seconds = (time.perf_counter() - start) / len(rows)
        results = []
        for i, continuation in enumerate(continuations):
            n = len(continuation)
            row_logprobs = torch.log_softmax(logits[i, keep - n - 1:].float(), dim=-1)  # n + 1 positions
            targets = torch.tensor(list(continuation), dtype=torch.long, device=row_logprobs.device)
            chosen = row_logprobs[:n].gather(-1, targets[:, None]).squeeze(-1) if n else targets.float()
            best_logprobs, best_ids = row_logprobs.max(dim=-1)
            results.append(Scores(
                logprobs=chosen.tolist(), argmax_ids=best_ids[:n].tolist(),
                argmax_logprobs=best_logprobs[:n].tolist(), next_argmax_id=int(best_ids[n]),
                cost=Cost(len(prompts[i]) + n, 0, 1, seconds),  # the model read prompt and continuation
            ))
        return results

    # --- helpers ------------------------------------------------------------------------------------
    def _left_pad(self, rows):
        width = max(len(r) for r in rows)
        ids = torch.full((len(rows), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for i, row in enumerate(rows):
            if row:
                ids[i, width - len(row):] = torch.tensor(list(row), dtype=torch.long)
                mask[i, width - len(row):] = 1
        return ids.to(self.input_device), mask.to(self.input_device)

    def _cut(self, ids: list[int], stop: Sequence[str], budget: int) -> tuple[list[int], str]:
        """Trim a generated row after its first eos or stop string; say why it ended."""
        for i, token in enumerate(ids):
            if token in self.eos_ids:
                return ids[: i + 1], "eos"
        if stop and any(s in self.tokenizer.decode(ids, skip_special_tokens=True) for s in stop):
            for i in range(len(ids)):  # only rows that hold a stop string pay for finding where
                text = self.tokenizer.decode(ids[: i + 1], skip_special_tokens=True)
                if any(s in text for s in stop):
                    return ids[: i + 1], "stop"
        return ids, "length" if len(ids) >= budget else "eos"


def _per_row(budget: int | Sequence[int], n: int) -> list[int]:
    return [int(budget)] * n if isinstance(budget, int) else [int(b) for b in budget]


def _eos_ids(model, tokenizer) -> set[int]:
    """Every token that ends a reply: the generation config's eos list plus the tokenizer's."""
    ids = set()
    configured = getattr(model.generation_config, "eos_token_id", None)
    if configured is not None:
        ids.update(configured if isinstance(configured, (list, tuple)) else [configured])
    if tokenizer.eos_token_id is not None:
        ids.add(tokenizer.eos_token_id)
    return ids
