"""The vLLM backend: the `LanguageModel` interface over an engine in its own process (`vllm_engine`).

Tokenization happens here, with the same tokenizer files the engine loads, so settings send and get
token ids exactly as with the transformers backend. Decoding follows only the run's knobs (greedy,
or seeded sampling per row as `hf.row_seed`); eos is the same set of ids as the transformers
backend's. vLLM's automatic prefix caching is on: `Cost.cached_tokens` is vLLM's own count.
"""
from __future__ import annotations

import logging
import time
from reasoning import progress
from reasoning.models.hf import Tokenized, _per_row, eos_ids, row_seed
from reasoning.models.types import Cost, Generation, Scores
from reasoning.models.vllm_engine import Engine

log = logging.getLogger(__name__)


class VLLMModel(Tokenized):
    def __init__(self, name: str, tokenizer, engine: Engine, eos_ids, *, do_sample: bool = False,
                 temperature: float = 1.0, top_p: float = 1.0, repetition_penalty: float = 1.0, seed: int = 0):
        self.name = name
        self.tokenizer = tokenizer
        self.engine = engine
        self.eos_ids = frozenset(eos_ids)
        self.decoding = dict(do_sample=do_sample, temperature=temperature, top_p=top_p,
                             repetition_penalty=repetition_penalty)
        self.seed = seed
        self.load_seconds = engine.load_seconds

    # --- model calls --------------------------------------------------------------------------------
    def generate(self, prompts, max_new_tokens, stop=()) -> list[Generation]:
        budgets = _per_row(max_new_tokens, len(prompts))
        results: list[Generation | None] = [None] * len(prompts)
        live = [i for i, b in enumerate(budgets) if b > 0]  # vLLM needs max_tokens >= 1: no room, no call
        for i, prompt in enumerate(prompts):
            if budgets[i] <= 0:
                results[i] = Generation([], "", "length", Cost(len(prompt), 0, 0, 0.0, 0, 0))
        if not live:
            return results
        rows = [dict(prompt=list(prompts[i]), max_tokens=budgets[i], seed=row_seed(self.seed, prompts[i]))
                for i in live]
        start = time.perf_counter()
        outputs = self.engine.call("generate", rows, self._sampling(stop))
        elapsed = time.perf_counter() - start
        seconds = elapsed / len(live)
        computed_all = 0
        for i, out in zip(live, outputs):
            ids = out["ids"]
            reason = "length" if out["finish_reason"] == "length" else "stop" if out["stop_string"] else "eos"
            cached = out["cached"]
            computed = len(prompts[i]) - cached + max(len(ids) - 1, 0)  # the last token is never fed back
            computed_all += computed
            cost = Cost(len(prompts[i]), len(ids), len(ids), seconds, cached_tokens=cached, computed_tokens=computed)
            results[i] = Generation(ids, self.decode(ids), reason, cost)
        progress.model_call(self.name, computed_all, elapsed)
        return results

    def score(self, prompts, continuations, next_tokens=()) -> list[Scores]:
        if not prompts:
            return []
        rows = [dict(ids=list(p) + list(c), start=len(p)) for p, c in zip(prompts, continuations)]
        start = time.perf_counter()
        outputs = self.engine.call("score", rows, list(next_tokens))
        elapsed = time.perf_counter() - start
        seconds = elapsed / len(rows)
        results = []
        for row, out in zip(rows, outputs):
            n, passes = len(row["ids"]), 2 if out["scored_again"] else 1
            # a row scored again without the cache was computed twice: the first pass's new tokens count too
            computed = n - out["cached"] + (n if out["scored_again"] else 0)
            cost = Cost(n, 0, passes, seconds, cached_tokens=out["cached"], computed_tokens=computed)
            results.append(Scores(out["logprobs"], out["argmax_ids"], out["argmax_logprobs"], out["next_argmax_id"],
                                  cost, next_logprobs=out["next_logprobs"]))
        progress.model_call(self.name, sum(r.cost.computed_tokens for r in results), elapsed)
        return results

    def close(self) -> None:
        self.engine.release()

    def _sampling(self, stop) -> dict:
        """SamplingParams knobs. eos: our own set as stop ids (the engine's would be the checkpoint's);
        a stop string's text stays in the output, as with the transformers backend."""
        d = self.decoding
        knobs = dict(stop=list(stop), include_stop_str_in_output=True, stop_token_ids=sorted(self.eos_ids),
                     repetition_penalty=d["repetition_penalty"], skip_special_tokens=True)
        if d["do_sample"]:
            knobs.update(temperature=d["temperature"], top_p=d["top_p"])
        else:
            knobs.update(temperature=0.0)
        return knobs


def load_vllm(name: str, path: str, *, role: str, dtype: str, device: str, knobs: dict | None,
              generation: dict | None, batch_invariant: bool, seed: int, local_files_only: bool) -> VLLMModel:
    """Start (or reuse) the engine of one model and wrap it; every check comes before the engine starts."""
    import os

    from transformers import AutoTokenizer

    from reasoning.models.placement import PLACED, fast_engine_dtype
    from reasoning.models.vllm_placement import engine_arguments, engine_environment, plan_engine

    knobs = dict(knobs or {})
    student_gpus = tuple(PLACED["student"]["gpus"]) if role != "student" and "student" in PLACED else ()
    gpus = plan_engine(role, dict(device=device, vllm=knobs, path=path), student_gpus)
    if dtype == "fast":
        dtype = fast_engine_dtype(gpus)
        log.info("%s: dtype fast -> %s on %s", role, dtype, f"GPUs {list(gpus)}" if gpus else "cpu")
    tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=local_files_only)
    arguments = engine_arguments(path, dtype, gpus, knobs, seed)
    engine = Engine.get(f"{role} {name}", arguments, engine_environment(gpus, batch_invariant, dict(os.environ)))
    PLACED[role] = {"placement": f"vllm on {'GPUs ' + ','.join(map(str, gpus)) if gpus else 'cpu'}",
                    "devices": [f"cuda:{g}" for g in gpus] or ["cpu"], "gpus": list(gpus), "dtype": dtype,
                    "backend": "vllm", "engine": {k: v for k, v in arguments.items() if k not in ("model", "tokenizer")},
                    "load_seconds": round(engine.load_seconds, 1)}
    return VLLMModel(name, tokenizer, engine, eos_ids(_generation_config(path, local_files_only), tokenizer),
                     **(generation or {}), seed=seed)


def _generation_config(path: str, local_files_only: bool):
    """The checkpoint's generation config (for its eos ids), or None where it has no generation_config.json."""
    from transformers import GenerationConfig

    try:
        return GenerationConfig.from_pretrained(path, local_files_only=local_files_only)
    except OSError:
        return None
