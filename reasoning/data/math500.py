"""MATH-500: competition problems with a LaTeX `answer` (graded by equivalence, not string match)."""

from reasoning.data.files import Row, hub_rows, id_prefix, read_rows
from reasoning.data.loading import field, select, to_problems
from reasoning.data.problem import Problem

RULE = "MATH-500 rows need 'problem' and 'answer'"
EXTRA = ("solution", "subject", "level", "unique_id")  # kept in meta for analysis by subject and level


def load_math500(
    path: str | None = None,
    hub_id: str = "HuggingFaceH4/MATH-500",
    split: str = "test",
    limit: int | None = None,
    shuffle: bool = False,
    seed: int = 0,
    on_malformed: str = "error",
) -> list[Problem]:
    """MATH-500 problems from a local file when `path` is given, else from the hub."""
    rows = read_rows(path) if path else hub_rows(hub_id, None, split)
    prefix = id_prefix("math500", path, split)
    problems = to_problems(rows, lambda row: to_problem(row, prefix), on_malformed, RULE)
    return select(problems, limit, shuffle, seed)


def to_problem(row: Row, prefix: str) -> Problem:
    question = field(row.fields, "problem")
    gold = field(row.fields, "answer")
    meta = {name: row.fields[name] for name in EXTRA if row.fields.get(name) is not None}
    return Problem(
        id=problem_id(row, prefix), question=question, gold=gold, meta={"dataset": "math500", **meta}
    )


def problem_id(row: Row, prefix: str) -> str:
    """`unique_id` "test/precalculus/807.json" gives "math500-test/precalculus/807"; else the row index
    after the prefix (`math500-test` from the hub, the file's stem from a file)."""
    unique = str(row.fields.get("unique_id") or "").strip()
    if unique:
        return f"math500-{unique.removesuffix('.json')}"
    return f"{prefix}-{row.index:05d}"
