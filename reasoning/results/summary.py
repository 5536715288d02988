"""The numbers of a set of problem records, computed in this one place.

`numbers(frame)` gives n, accuracy, strict accuracy, grader timeouts, placeholder answers, rounds and
interventions per problem, feedback's copy rate (`settings/copying.py`: the share of refinements that
are verbatim copies of the previous attempt, and the mean kept ratio), and each role's cost in total
and per problem. summary.json
(`summarize(records)`, the runner and collect) and the report's run table (one call per run) both
use it; `flat_record` makes the frame's rows, and `load` builds its rows with it too.
"""
from __future__ import annotations

import pandas as pd

from reasoning.settings import copying

ROLES = ("student", "teacher")
COST_METRICS = ("prompt_tokens", "generated_tokens", "forward_passes", "seconds", "cached_tokens", "computed_tokens")
# Record fields holding lists or dicts; everything else in a record is a scalar column.
NESTED = ("cost", "trace", "rounds", "interventions")
COUNTED = {"rounds": "n_rounds", "interventions": "n_interventions"}  # record list -> per-problem count column
# Per-problem sums over feedback's refinements (rounds r > 1), from which numbers() gives the copy rate.
REFINEMENT_COLUMNS = ("n_refinements", "n_identical_refinements", "kept_total")


def flat_record(record: dict) -> dict:
    """A record's scalar fields, `<role>_<metric>` cost columns and the counts of its rounds/interventions."""
    row = {k: v for k, v in record.items() if k not in NESTED}
    row.update(cost_columns(record.get("cost")))
    row.update({column: len(record[field] or []) for field, column in COUNTED.items() if field in record})
    if "rounds" in record:
        row.update(refinement_columns(record["rounds"] or []))
    return row


def refinement_columns(rounds: list[dict]) -> dict:
    """One problem's refinements: how many, how many were verbatim copies, the sum of their kept ratios."""
    marks = copying.refinements(rounds)
    return dict(zip(REFINEMENT_COLUMNS, (len(marks), sum(m["identical_to_previous"] for m in marks),
                                         sum(m["kept"] for m in marks))))


def cost_columns(cost: dict | None) -> dict:
    """`student_generated_tokens`, `teacher_computed_tokens`, ...; a role that was never called costs 0.

    Records written before the backend counted its prefix cache have no `computed_tokens`: that backend
    had no cache, so cached = 0 and computed = prompt + generated tokens, an upper bound (exact but for
    the last generated token of each call, which is never fed back).
    """
    row = {f"{role}_{metric}": 0 for role in ROLES for metric in COST_METRICS}
    for role, metrics in (cost or {}).items():
        if "computed_tokens" not in metrics:
            metrics = {**metrics, "cached_tokens": 0,
                       "computed_tokens": metrics.get("prompt_tokens", 0) + metrics.get("generated_tokens", 0)}
        row.update({f"{role}_{metric}": value for metric, value in metrics.items()})
    return row


def numbers(frame: pd.DataFrame) -> dict:
    """Accuracy, counts and cost of the problems in `frame` (rows as `flat_record` makes them)."""
    n = len(frame)
    correct, strict = _count(frame, "correct"), _count(frame, "strict_correct")
    suffix = "_computed_tokens"
    roles = [*ROLES, *sorted({c.removesuffix(suffix) for c in frame.columns if c.endswith(suffix)} - set(ROLES))]
    totals = {role: {m: _total(frame, f"{role}_{m}", m) for m in COST_METRICS} for role in roles}
    return {
        "n": n, "correct": correct, "strict_correct": strict,
        "accuracy": correct / n if n else None,
        "strict_accuracy": strict / n if n else None,
        "grader_timeouts": _count(frame, "timed_out"),  # a timeout is graded wrong: say how many there were
        "placeholders": _count(frame, "placeholder"),
        "rounds": _mean(frame, "n_rounds"), "interventions": _mean(frame, "n_interventions"),
        **copy_numbers(frame),
        "cost": totals,
        "cost_per_problem": {role: {m: v / n if n else None for m, v in t.items()} for role, t in totals.items()},
    }


def copy_numbers(frame: pd.DataFrame) -> dict:
    """Feedback's refinements in `frame`, how many were identical to the previous attempt, the copy rate
    (identical / refinements) and the mean kept ratio; None for runs without rounds (other settings)."""
    if "n_refinements" not in frame or frame.n_refinements.isna().all():  # (a frame of several runs)
        return {"refinements": None, "identical_refinements": None, "copy_rate": None, "mean_kept": None}
    totals = frame[list(REFINEMENT_COLUMNS)].fillna(0).sum()
    n, identical, kept = int(totals.n_refinements), int(totals.n_identical_refinements), float(totals.kept_total)
    return {"refinements": n, "identical_refinements": identical,
            "copy_rate": identical / n if n else None, "mean_kept": kept / n if n else None}


def summarize(records: list[dict]) -> dict:
    """summary.json of a run: its setting and `numbers` of its records."""
    frame = pd.DataFrame([flat_record(r) for r in records])
    if frame.empty:
        frame = pd.DataFrame(columns=list(cost_columns(None)))
    return {"setting": records[0]["setting"] if records else None, **numbers(frame)}


def _count(frame: pd.DataFrame, column: str) -> int:
    if column not in frame:
        return 0
    return int(frame[column].astype("boolean").fillna(False).astype(bool).sum())


def _total(frame: pd.DataFrame, column: str, metric: str):
    total = frame[column].fillna(0).sum() if column in frame else 0
    return float(total) if metric == "seconds" else int(total)


def _mean(frame: pd.DataFrame, column: str) -> float | None:
    return float(frame[column].mean()) if column in frame and len(frame) else None
