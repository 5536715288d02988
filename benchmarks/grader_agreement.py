"""Compare reasoning.grading.grade with math-verify on the shared labelled cases.

    python benchmarks/grader_agreement.py

(A script's folder, not the current one, is on sys.path: from a checkout other than the installed
one, prefix PYTHONPATH=. so that this checkout's grader is the one measured.)

Prints the agreement rate of the two graders, each one's accuracy against the labels, the cases where
they disagree, and the time each took. math-verify runs on the main thread here, so its own SIGALRM
timeouts (the defaults) work; off the main thread it would need parsing_timeout=None and
timeout_seconds=None and an outside time bound.
"""

import logging
import time

from math_verify import parse, verify

from reasoning.grading import grade
from reasoning.grading.cases import CASES


def math_verify_correct(response: str, gold: str) -> bool:
    # math-verify finds LaTeX only inside delimiters; a bare gold such as \frac{1}{2} needs "$...$".
    gold_text = gold if ("\\boxed" in gold or "####" in gold) else f"${gold}$"
    return verify(parse(gold_text), parse(response))


def main() -> None:
    logging.getLogger("math_verify").setLevel(logging.ERROR)
    ours, theirs = [], []
    ours_seconds = theirs_seconds = 0.0
    for case in CASES:
        start = time.perf_counter()
        ours.append(grade(case.response, case.gold).correct)
        middle = time.perf_counter()
        theirs.append(math_verify_correct(case.response, case.gold))
        ours_seconds += middle - start
        theirs_seconds += time.perf_counter() - middle

    n = len(CASES)
    labels = [case.correct for case in CASES]
    agree = sum(a == b for a, b in zip(ours, theirs))
    print(f"cases: {n}")
    print(f"agreement (ours vs math-verify): {agree}/{n} = {agree / n:.1%}")
    for name, verdicts, seconds in (("ours", ours, ours_seconds), ("math-verify", theirs, theirs_seconds)):
        right = sum(v == label for v, label in zip(verdicts, labels))
        print(f"accuracy vs labels, {name:<11}: {right}/{n} = {right / n:.1%}   ({seconds:.2f} s total)")
    print("\ndisagreements (label | ours | math-verify | category | gold | response):")
    for case, a, b in zip(CASES, ours, theirs):
        if a != b:
            verdicts = f"{case.correct!s:<5} | {a!s:<5} | {b!s:<5} | {case.category:<8}"
            print(f"  {verdicts} | {case.gold!r} | {case.response!r}")


if __name__ == "__main__":
    main()
