"""summary.json: accuracy and cost totals of a run, computed from its records."""
from __future__ import annotations

from reasoning.models.types import Cost


def summarize(records: list[dict]) -> dict:
    n = len(records)
    totals: dict[str, Cost] = {}
    for record in records:
        for role, cost in record["cost"].items():
            totals.setdefault(role, Cost())
            totals[role] += Cost(**cost)
    return {
        "setting": records[0]["setting"] if records else None,
        "n": n,
        "accuracy": sum(r["correct"] for r in records) / n if n else None,
        "strict_accuracy": sum(bool(r.get("strict_correct")) for r in records) / n if n else None,
        "cost": {role: cost.to_dict() for role, cost in totals.items()},
        "cost_per_problem": {role: {k: v / n for k, v in cost.to_dict().items()} for role, cost in totals.items()},
    }
