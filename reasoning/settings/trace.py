"""What a setting hands back per problem: the final response, the ordered events and the cost per model."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from reasoning.data.problem import Problem
from reasoning.models.types import Cost


@dataclass
class Trace:
    problem: Problem
    response: str = ""
    events: list[dict] = field(default_factory=list)
    cost: dict[str, Cost] = field(default_factory=dict)
    extra: dict = field(default_factory=dict)  # setting-specific record fields: rounds, interventions
    # Intermediate answers the runner should grade, each a dict with a "response"; the runner adds
    # "answer", "correct", "strict_correct" to each in place (feedback: its rounds, so flips can be counted).
    attempts: list[dict] = field(default_factory=list)

    def log(self, event: str, role: str, cost: Cost | None = None, **fields) -> dict:
        """Append one event (a generation, review, verdict, intervention...) and charge its cost to `role`."""
        entry = {"event": event, "role": role, **fields}
        self.events.append(entry)
        if cost is not None:
            self.cost.setdefault(role, Cost())
            self.cost[role] += cost
        return entry


class Setting(Protocol):
    """A strategy that solves a batch of problems; every model call inside is batched across the batch."""

    name: str

    def solve(self, problems: list[Problem]) -> list[Trace]: ...
