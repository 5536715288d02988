"""The noise floor: how much reruns of one config disagree, to read a paired comparison against.

Two runs that should give the same texts (another batch size, the prefix cache off, a resume, bf16 vs
float32) can still differ, and a difference can flip a problem's correctness. A paired comparison whose
right-only-here vs right-only-there split is no larger than what reruns of one config already flip
says nothing about the settings. Pure functions over records / DataFrames.
"""
from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations

import pandas as pd

from reasoning.results.paired import _correct_on, common_problems


@dataclass(frozen=True)
class Difference:
    """Two runs of the same problems, record by record (a row of the reproducibility table)."""

    problems: int
    texts_differ: int
    answers_differ: int
    correct_flips: int


def compare_records(a: list[dict], b: list[dict]) -> Difference:
    """Texts, extracted answers and correctness of the problems both record lists hold."""
    by_id = {r["id"]: r for r in b}
    pairs = [(r, by_id[r["id"]]) for r in a if r["id"] in by_id]
    return Difference(len(pairs), sum(x["response"] != y["response"] for x, y in pairs),
                      sum(x.get("answer") != y.get("answer") for x, y in pairs),
                      sum(bool(x["correct"]) != bool(y["correct"]) for x, y in pairs))


@dataclass(frozen=True)
class NoiseFloor:
    reruns: int
    problems: int  # problems every rerun has
    flipping: int  # problems whose correctness is not the same in every rerun
    worst_pair: int  # the most problems two reruns disagree on
    settings: tuple[str, ...] = ()  # what was rerun, so a reader knows which config the floor is of

    def line(self) -> str:
        of = f" ({', '.join(self.settings)})" if self.settings else ""
        return (f"Noise floor: {self.flipping} of {self.problems} problems flip correctness across {self.reruns} "
                f"reruns of one config{of} (at most {self.worst_pair} between two of them).")

    def expected_on(self, problems: int) -> float:
        """The flips to expect on `problems` problems: reruns measured on fewer problems scale up."""
        return self.flipping / self.problems * problems if self.problems else float(self.flipping)


def noise_floor(reruns: pd.DataFrame) -> NoiseFloor:
    """From a `load()` frame of reruns of one config (a `run` column tells them apart)."""
    common = common_problems(reruns)
    correct = pd.DataFrame({run: _correct_on(g, common) for run, g in reruns.groupby("run", sort=False)})
    flipping = int((correct.nunique(axis=1) > 1).sum()) if len(correct.columns) else 0
    worst = max((int((correct[a] != correct[b]).sum()) for a, b in combinations(correct.columns, 2)), default=0)
    settings = tuple(sorted(reruns["setting"].dropna().unique())) if "setting" in reruns else ()
    return NoiseFloor(len(correct.columns), len(common), flipping, worst, settings)


def within_noise(paired: pd.DataFrame, floor: NoiseFloor) -> list[str]:
    """A warning per compared run whose split against the reference is no larger than the noise floor."""
    warnings = []
    for run, row in paired.iterrows():
        if run == row.reference:
            continue
        gap = abs(int(row.only_this_right) - int(row.only_reference_right))
        allowed = floor.expected_on(int(row.n_common))
        if gap <= allowed:
            warnings.append(f"{run}: right only here {row.only_this_right} vs only in {row.reference} "
                            f"{row.only_reference_right} (gap {gap}) is within the noise floor "
                            f"({allowed:.1f} flips expected on {int(row.n_common)} problems).")
    return warnings


def noise_section(paired: pd.DataFrame, floor: NoiseFloor) -> list[str]:
    """The report's lines: the floor, then a warning per comparison within it."""
    return [floor.line(), *(f"- warning: {w}" for w in within_noise(paired, floor))]

