"""Does speculative correction save the teacher work? Teacher alone vs transformers' assisted generation
vs our token/argmax speculative setting (and step/logprob at its default knobs), on the bundled pair.

    python benchmarks/speculative_speed.py                          # 8 GSM8K problems, 256 new tokens
    python benchmarks/speculative_speed.py --problems 4 --max-new-tokens 128 --dtype float32
    python benchmarks/speculative_speed.py --modes sky:8 ours:8 --no-prefix-cache

Each mode runs on the same problems and prompts (the student answer prompt, greedy) with a cleared
prefix cache, and prints wall time, teacher tokens computed / generated per problem, and how many
texts equal the teacher's own greedy text. Run nothing else meanwhile (2 cores: timings are void).
"""
from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from reasoning.data.gsm8k import load_gsm8k  # noqa: E402
from reasoning.models.loaders import load_bundled  # noqa: E402
from reasoning.settings.skyline import Skyline  # noqa: E402
from reasoning.settings.speculative import Speculative  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "shared/data/gsm8k_test_public.jsonl"
MODES = ("sky:1", "assisted:1", "ours:1", "sky:8", "ours:8", "step:8")


def solve(mode: str, student, teacher, problems, max_new_tokens: int, batch: int):
    """Responses and per-problem teacher (computed, generated) tokens of one mode."""
    if mode == "assisted":
        return assisted(student, teacher, problems, max_new_tokens)
    if mode == "sky":
        setting = Skyline(teacher, max_new_tokens=max_new_tokens)
    elif mode == "ours":
        setting = Speculative(student, teacher, granularity="token", criterion="argmax", max_new_tokens=max_new_tokens)
    else:  # step: the setting's default knobs
        setting = Speculative(student, teacher, max_new_tokens=max_new_tokens)
    traces = [t for i in range(0, len(problems), batch) for t in setting.solve(problems[i:i + batch])]
    costs = [t.cost.get("teacher") for t in traces]
    return [t.response for t in traces], [(c.computed_tokens, c.generated_tokens) for c in costs]


def assisted(student, teacher, problems, max_new_tokens: int):
    """transformers' assisted generation (keeps and crops both KV caches), batch 1 only."""
    import torch
    from reasoning.prompts import render

    responses, costs = [], []
    for problem in problems:
        prompt = teacher.encode_chat(render("student_answer", question=problem.question))
        ids = torch.tensor([prompt])
        with torch.inference_mode():
            out = teacher.model.generate(ids, attention_mask=torch.ones_like(ids), assistant_model=student.model,
                                         max_new_tokens=max_new_tokens, do_sample=False, temperature=None,
                                         top_p=None, top_k=None, repetition_penalty=1.0,
                                         eos_token_id=sorted(teacher.eos_ids), pad_token_id=teacher.pad_id)
        new = out[0, len(prompt):].tolist()
        responses.append(teacher.decode(new))
        costs.append((None, len(new)))  # its forward passes are internal: computed tokens not counted
    return responses, costs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--problems", type=int, default=8)
    parser.add_argument("--max-new-tokens", type=int, default=256)
    parser.add_argument("--dtype", default="bfloat16")
    parser.add_argument("--data", default=str(DATA))
    parser.add_argument("--modes", nargs="+", default=list(MODES), help=f"name:batch, from {MODES}")
    parser.add_argument("--no-prefix-cache", action="store_true")
    args = parser.parse_args()

    problems = load_gsm8k(path=args.data, limit=args.problems, shuffle=True, seed=0)
    student = load_bundled("qwen2.5-coder-0.5b-instruct", role="student", dtype=args.dtype)
    teacher = load_bundled("qwen2.5-coder-1.5b-instruct", role="teacher", dtype=args.dtype)
    if args.no_prefix_cache:
        student.cache = teacher.cache = None
    reference = None
    print(f"{len(problems)} GSM8K problems, {args.max_new_tokens} new tokens, {args.dtype}, "
          f"prefix cache {'off' if args.no_prefix_cache else 'on'}")
    print("| mode | batch | wall s | x teacher alone (same batch) | teacher tokens computed / problem "
          "| teacher tokens generated / problem | = teacher's greedy text |")
    print("|---|---|---|---|---|---|---|")
    alone: dict[int, float] = {}
    for spec in args.modes:
        mode, batch = spec.split(":")[0], int(spec.split(":")[1])
        for model in (student, teacher):
            if model.cache is not None:
                model.cache.clear()
        start = time.perf_counter()
        responses, costs = solve(mode, student, teacher, problems, args.max_new_tokens, batch)
        wall = time.perf_counter() - start
        if mode == "sky":
            alone[batch] = wall
            reference = reference or responses
        same = sum(a == b for a, b in zip(responses, reference)) if reference else "-"
        computed = [c for c, _ in costs if c is not None]
        per = f"{sum(computed) / len(computed):.0f}" if computed else "n/a"
        ratio = f"{wall / alone[batch]:.2f}" if batch in alone else "-"
        print(f"| {mode} | {batch} | {wall:.1f} | {ratio} | {per} | {sum(g for _, g in costs) / len(costs):.0f} "
              f"| {same}/{len(problems)} |", flush=True)


if __name__ == "__main__":
    main()
