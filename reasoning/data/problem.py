from dataclasses import dataclass, field


@dataclass(frozen=True)
class Problem:
    """One reasoning problem. `id` is stable across runs: resume and cross-run comparison key on it."""

    id: str
    question: str
    gold: str
    meta: dict = field(default_factory=dict)
