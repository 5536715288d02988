"""GSM8K: grade-school word problems whose `answer` is a worked solution ending in `#### N`."""

import re

from reasoning.data.files import Row, hub_rows, id_prefix, read_rows
from reasoning.data.loading import Malformed, field, select, to_problems
from reasoning.data.problem import Problem

RULE = "GSM8K rows need 'question' and 'answer' ending in '#### N'"
FINAL = re.compile(r"####\s*(-?[\d,]*\.?\d+)\s*$")


def load_gsm8k(
    path: str | None = None,
    hub_id: str = "openai/gsm8k",
    subset: str = "main",
    split: str = "test",
    limit: int | None = None,
    shuffle: bool = False,
    seed: int = 0,
    on_malformed: str = "error",
) -> list[Problem]:
    """GSM8K problems from a local file when `path` is given, else from the hub; ids `gsm8k-test-00042`
    from the hub, `<file stem>-00042` from a file (the shared public copy keeps the hub's ids)."""
    rows = read_rows(path) if path else hub_rows(hub_id, subset, split)
    prefix = id_prefix("gsm8k", path, split)
    problems = to_problems(rows, lambda row: to_problem(row, prefix), on_malformed, RULE)
    return select(problems, limit, shuffle, seed)


def to_problem(row: Row, prefix: str) -> Problem:
    question = field(row.fields, "question")
    answer = field(row.fields, "answer")
    final = FINAL.search(answer)
    if final is None:
        raise Malformed(f"answer does not end in '#### N': ...{answer[-40:]!r}")
    return Problem(
        id=f"{prefix}-{row.index:05d}",
        question=question,
        gold=final.group(1).replace(",", ""),
        meta={"dataset": "gsm8k", "solution": answer[: final.start()].strip()},
    )
