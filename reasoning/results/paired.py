"""Runs compared on the same problems: the ones every run has, with paired counts against a reference.

Accuracies over different problem sets (one run extended to 100 problems, another stopped at 40, a
shard missing) do not compare. `paired_table` restricts every run to the problems all runs have and,
against the reference run (the skyline, else the baseline), counts the problems only one of the two got
right, with the exact McNemar p-value of that split: on the same problems a paired test sees
differences that two separate confidence intervals hide.
"""
from __future__ import annotations

import math

import pandas as pd

KEY = ["id", "question"]  # an id alone could repeat across datasets; the question text cannot
REFERENCE_SETTINGS = ("skyline", "baseline")


def common_problems(df: pd.DataFrame) -> pd.MultiIndex:
    """The (id, question) pairs present in every run of `df`."""
    per_run = [pd.MultiIndex.from_frame(g[KEY]) for _, g in df.groupby("run", sort=False)]
    common = per_run[0] if per_run else pd.MultiIndex.from_tuples([], names=KEY)
    for problems in per_run[1:]:
        common = common.intersection(problems)
    return common


def on_common_problems(df: pd.DataFrame, *events: pd.DataFrame) -> tuple[pd.DataFrame, ...]:
    """Every run (and its round / intervention events) cut to the problems all runs have, so that each
    run's accuracy and costs are over the same problems: runs of different sizes plotted like with like."""
    common = common_problems(df)
    ids = set(common.get_level_values("id"))
    kept = df[pd.MultiIndex.from_frame(df[KEY]).isin(common)]
    return (kept, *(e[e.id.isin(ids)] if "id" in e else e for e in events))


def mcnemar_exact(only_a: int, only_b: int) -> float:
    """Two-sided exact McNemar p-value: a binomial(only_a + only_b, 1/2) test of the discordant split."""
    n = only_a + only_b
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, i) for i in range(min(only_a, only_b) + 1)) / 2 ** n
    return min(1.0, 2 * tail)


def reference_run(df: pd.DataFrame) -> str:
    """The run others are compared with: the first skyline run, else the first baseline, else the first run."""
    settings = df.drop_duplicates("run").set_index("run").setting
    for wanted in REFERENCE_SETTINGS:
        if (settings == wanted).any():
            return settings[settings == wanted].index[0]
    return settings.index[0]


def paired_table(df: pd.DataFrame, reference: str | None = None) -> pd.DataFrame:
    """Per run, on the problems every run has: accuracy and the discordant counts against `reference`;
    empty for fewer than two runs."""
    columns = ["n_common", "accuracy", "reference", "only_this_right", "only_reference_right", "mcnemar_p"]
    if df.empty or df.run.nunique() < 2:  # one run has nothing to be paired with but itself
        return pd.DataFrame(columns=["run", *columns]).set_index("run")
    reference = reference or reference_run(df)
    common = common_problems(df)
    correct = {run: _correct_on(g, common) for run, g in df.groupby("run", sort=False)}
    ref = correct[reference]
    rows = []
    for run, right in correct.items():
        only_this, only_ref = int((right & ~ref).sum()), int((ref & ~right).sum())
        rows.append({"run": run, "n_common": len(common), "accuracy": right.mean() if len(common) else math.nan,
                     "reference": reference, "only_this_right": only_this, "only_reference_right": only_ref,
                     "mcnemar_p": math.nan if run == reference else mcnemar_exact(only_this, only_ref)})
    return pd.DataFrame(rows, columns=["run", *columns]).set_index("run")


def _correct_on(group: pd.DataFrame, common: pd.MultiIndex) -> pd.Series:
    """The run's correctness on `common`, in its order (a missing grade counts as wrong, as in accuracy)."""
    graded = group.set_index(KEY).correct.astype("boolean").fillna(False).astype(bool)
    graded = graded[~graded.index.duplicated()]  # the first record of a problem, as everywhere else
    return graded.reindex(common).astype(bool)
