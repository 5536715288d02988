"""Which draft length should speculative use? Tokens each model computes, rounds, interventions and
accuracy per `draft_tokens` policy, for token/argmax and step/logprob on the bundled pair.

    python benchmarks/draft_length.py --problems 8 --max-new-tokens 256

Token counts and rounds are deterministic (valid on a busy machine); seconds are printed too, but
compare them only from a run with nothing else on the machine.
"""
from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from reasoning.data.gsm8k import load_gsm8k  # noqa: E402
from reasoning.grading import grade  # noqa: E402
from reasoning.models.loaders import load_bundled  # noqa: E402
from reasoning.settings.speculative import Speculative  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "shared/data/gsm8k_test_public.jsonl"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--problems", type=int, default=8)
    parser.add_argument("--max-new-tokens", type=int, default=256)
    parser.add_argument("--policies", nargs="+", default=["rest", "8", "16", "32", "adaptive"])
    parser.add_argument("--units", nargs="+", default=["token:argmax", "step:logprob"])
    args = parser.parse_args()
    problems = load_gsm8k(path=str(DATA), limit=args.problems, shuffle=True, seed=0)
    student = load_bundled("qwen2.5-coder-0.5b-instruct", role="student")
    teacher = load_bundled("qwen2.5-coder-1.5b-instruct", role="teacher")
    print("| unit:criterion | draft_tokens | teacher computed / problem | student computed / problem "
          "| rounds / problem | interventions / problem | correct | s / problem |")
    print("|---|---|---|---|---|---|---|---|")
    for unit in args.units:
        granularity, criterion = unit.split(":")
        for policy in args.policies:
            student.cache.clear(), teacher.cache.clear()
            knob = int(policy) if policy.isdigit() else policy
            setting = Speculative(student, teacher, granularity=granularity, criterion=criterion, draft_tokens=knob,
                                  max_new_tokens=args.max_new_tokens)
            start = time.perf_counter()
            traces = setting.solve(problems)
            seconds = (time.perf_counter() - start) / len(problems)
            n = len(traces)
            teacher_tokens = sum(t.cost["teacher"].computed_tokens for t in traces) / n
            student_tokens = sum(t.cost["student"].computed_tokens for t in traces) / n
            rounds = sum(sum(e["event"] == "draft" for e in t.events) for t in traces) / n
            interventions = sum(len(t.extra["interventions"]) for t in traces) / n
            correct = sum(grade(t.response, t.problem.gold).correct for t in traces)
            print(f"| {unit} | {policy} | {teacher_tokens:.0f} | {student_tokens:.0f} | {rounds:.1f} "
                  f"| {interventions:.1f} | {correct}/{n} | {seconds:.1f} |", flush=True)


if __name__ == "__main__":
    main()
