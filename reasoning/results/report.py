"""The report: pure functions from `load` / `load_events` frames to tables and figures, and `write_report`.

`run_table(df)` gives one row per run (shards merged): accuracy with a Wilson 95% interval, cost per
problem and feedback's copy rate (`copy_table`). `transitions` (over the refinements that changed the
text) and `accept_rates` read feedback rounds; `position_histogram` reads speculative
interventions. `plot_cost_accuracy` puts every run on two planes of accuracy against teacher cost per
problem: the tokens the teacher computed (the honest compute cost; generated tokens stay a column) and
its forward passes, each with its Pareto front (`pareto_front`), baseline and skyline drawn as the floor
and ceiling the other settings should sit between and token/argmax (the teacher's own text) marked.
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from reasoning.results.noise import noise_section
from reasoning.results.paired import paired_table
from reasoning.results.summary import numbers
from reasoning.settings import copying
from reasoning.settings.verdict import ACCEPT, UNPARSEABLE

Z95 = 1.959963984540054
REFERENCES = ("baseline", "skyline")  # the floor and ceiling, drawn as lines
SETTING_ORDER = ("baseline", "feedback", "speculative", "skyline")
COLOURS = {"baseline": "tab:gray", "skyline": "black", "feedback": "tab:blue", "speculative": "tab:orange"}
TRANSITIONS = ("wrong_to_right", "right_to_wrong", "stayed_right", "stayed_wrong")
# Per-problem costs in the run table: column -> (role, metric) of summary.numbers' cost_per_problem.
# The cost axis is what the teacher computed (every token it ran a forward pass over); what it wrote is kept.
PER_PROBLEM = {
    "teacher_computed_tokens": ("teacher", "computed_tokens"),
    "teacher_generated_tokens": ("teacher", "generated_tokens"),
    "teacher_cached_tokens": ("teacher", "cached_tokens"),
    "teacher_forward_passes": ("teacher", "forward_passes"),
    "student_computed_tokens": ("student", "computed_tokens"),
    "student_generated_tokens": ("student", "generated_tokens"),
}
COUNTS = ("rounds", "interventions")  # per-problem means from summary.numbers
COPIES = ("refinements", "identical_refinements", "copy_rate", "mean_kept")  # feedback's, from summary.numbers
COST_AXIS = "teacher_computed_tokens"
# The plot's panels: cost column -> axis label.
COST_AXES = {
    "teacher_computed_tokens": "teacher tokens computed per problem (prefix-cache hits excluded)",
    "teacher_forward_passes": "teacher forward passes per problem",
}
# Configs marked on the plot: (setting.granularity, setting.criterion) -> label.
MARKED = {("token", "argmax"): "token/argmax"}


def wilson(k: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval for k successes in n trials (sane at 0/n and n/n, unlike the normal one)."""
    if n == 0:
        return math.nan, math.nan
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def run_table(df: pd.DataFrame) -> pd.DataFrame:
    """One row per run, indexed by `run`: n, accuracy and strict accuracy with CIs, cost per problem."""
    rows = [_summary_row(run, group) for run, group in df.groupby("run", sort=False)]
    table = pd.DataFrame(rows, columns=_summary_columns()).set_index("run")
    order = table.setting.map(lambda s: SETTING_ORDER.index(s) if s in SETTING_ORDER else len(SETTING_ORDER))
    return table.assign(_order=order).sort_values(["_order", COST_AXIS]).drop(columns="_order")


def transitions(rounds: pd.DataFrame, by_round: bool = False) -> pd.DataFrame:
    """Counts of each round-to-next-round change in correctness, per run (and per step if `by_round`).

    Only refinements that changed the text count: a verbatim copy keeps its answer by construction and
    says nothing about what the feedback did (the copy rate counts those).
    """
    keys = ["run", "step"] if by_round else ["run"]
    if rounds.empty:
        return pd.DataFrame(columns=[*keys, *TRANSITIONS]).set_index(keys)
    ordered = rounds.sort_values(["run", "run_dir", "id", "round"]).reset_index(drop=True)
    before = ordered.groupby(["run_dir", "id"]).correct.shift()
    pairs = ordered.assign(before=before)[_changed_text(ordered)].dropna(subset=["before"])
    kind = [_transition(bool(b), bool(a)) for b, a in zip(pairs.before, pairs.correct)]
    pairs = pairs.assign(kind=kind, step=[f"{r - 1}->{r}" for r in pairs["round"]])
    counts = pd.DataFrame(
        {t: pairs[pairs.kind == t].groupby(keys).size() for t in TRANSITIONS}, columns=list(TRANSITIONS))
    if not by_round:  # runs whose problems all stopped after one round still get a (zero) row
        counts = counts.reindex(pd.Index(rounds.run.unique(), name="run"))
    return counts.fillna(0).astype(int)


def copy_table(summary: pd.DataFrame) -> pd.DataFrame:
    """Per feedback run: refinements, how many were verbatim copies of the previous attempt, the copy rate
    and the mean kept ratio (difflib), as `summary.numbers` counts them."""
    shown = summary[summary.refinements.notna()]
    return pd.DataFrame({
        "refinements": shown.refinements.astype(int), "identical to previous": shown.identical_refinements.astype(int),
        "copy rate": shown.copy_rate, "mean kept ratio": shown.mean_kept}, index=shown.index)


def accept_rates(rounds: pd.DataFrame) -> pd.DataFrame:
    """Per run: how often the teacher accepted when the round's answer was right vs wrong.

    Rounds with no verdict (the last round when max_rounds ran out) were never reviewed and are left
    out; an unparseable verdict counts as not accepted.
    """
    columns = ["reviewed_right", "accept_rate_right", "reviewed_wrong", "accept_rate_wrong", "unparseable"]
    if rounds.empty:
        return pd.DataFrame(columns=["run", *columns]).set_index("run")
    reviewed = rounds[rounds.verdict.notna()]
    rows = []
    for run, g in reviewed.groupby("run", sort=False):
        right, wrong = g[g.correct.astype(bool)], g[~g.correct.astype(bool)]
        rows.append({
            "run": run,
            "reviewed_right": len(right), "accept_rate_right": _rate(right.verdict == ACCEPT),
            "reviewed_wrong": len(wrong), "accept_rate_wrong": _rate(wrong.verdict == ACCEPT),
            "unparseable": int((g.verdict == UNPARSEABLE).sum()),
        })
    return pd.DataFrame(rows, columns=["run", *columns]).set_index("run")


def position_histogram(interventions: pd.DataFrame, bins: int = 10) -> pd.DataFrame:
    """Per run, how many interventions fell in each tenth (by default) of the response, by relative position."""
    edges = np.linspace(0, 1, bins + 1)
    labels = [f"{a:.1f}-{b:.1f}" for a, b in zip(edges[:-1], edges[1:])]
    if interventions.empty:
        return pd.DataFrame(columns=["run", *labels]).set_index("run")
    rows = {
        run: np.histogram(g.relative_position.clip(0, 1), bins=edges)[0]  # the last bin includes 1.0
        for run, g in interventions.groupby("run", sort=False)
    }
    return pd.DataFrame.from_dict(rows, orient="index", columns=labels).rename_axis("run")


def display_table(summary: pd.DataFrame) -> pd.DataFrame:
    """The summary as readable strings: accuracy with its CI, strict accuracy only where it differs."""
    shown = pd.DataFrame(index=summary.index)
    shown["setting"] = summary.setting
    shown["n"] = summary.n
    shown["accuracy [95% CI]"] = [_with_ci(*row) for row in summary[["accuracy", "accuracy_low", "accuracy_high"]].values]
    if not np.allclose(summary.accuracy, summary.strict_accuracy, equal_nan=True):
        strict = summary[["strict_accuracy", "strict_accuracy_low", "strict_accuracy_high"]].values
        shown["strict [95% CI]"] = [_with_ci(*row) for row in strict]
    for column, title in (
        ("student_generated_tokens", "student tokens/problem"),
        ("teacher_computed_tokens", "teacher tokens computed/problem"),
        ("teacher_generated_tokens", "teacher tokens generated/problem"),
        ("teacher_forward_passes", "teacher passes/problem"), ("seconds", "seconds/problem"),
        ("rounds", "rounds/problem"), ("interventions", "interventions/problem"),
    ):
        if summary[column].notna().any():
            shown[title] = summary[column].map(lambda v: "-" if pd.isna(v) else f"{v:.4g}")
    for column, title in (("grader_timeouts", "grader timeouts"), ("placeholders", "placeholder answers")):
        if summary[column].any():  # shown only where it happened, like strict accuracy
            shown[title] = summary[column]
    return shown


def markdown_table(frame: pd.DataFrame) -> str:
    """A GitHub-flavoured Markdown table of `frame`, index included (no `tabulate` dependency)."""
    frame = frame.reset_index()
    cells = [[str(c) for c in frame.columns]] + [[_cell(v) for v in row] for row in frame.values]
    lines = ["| " + " | ".join(row) + " |" for row in cells]
    lines.insert(1, "|" + "|".join("---" for _ in frame.columns) + "|")
    return "\n".join(lines)


def pareto_front(cost, accuracy) -> list[bool]:
    """Which runs are on the front: no other run is at least as accurate at no more cost and better on one.

    Runs that tie on both are all on it (neither beats the other); a run with a missing value is not.
    """
    points = list(zip(cost, accuracy))

    def beaten(c, a) -> bool:
        return any(c2 <= c and a2 >= a and (c2 < c or a2 > a) for c2, a2 in points)

    return [not (math.isnan(c) or math.isnan(a) or beaten(c, a)) for c, a in points]


def plot_cost_accuracy(summary: pd.DataFrame, axes=None):
    """Accuracy (with 95% CI) against each teacher cost of `COST_AXES`, one labelled point per run, the
    Pareto front as a staircase; the legend names only what is drawn."""
    import matplotlib.pyplot as plt

    if axes is None:
        _, axes = plt.subplots(1, len(COST_AXES), figsize=(6.5 * len(COST_AXES), 4.5), squeeze=False)
        axes = axes[0]
    numbers = {run: i + 1 for i, run in enumerate(summary.index)}  # run labels are long: points carry a number
    for ax, (column, label) in zip(axes, COST_AXES.items()):
        _plot_panel(ax, summary, column, label, numbers)
    key = "\n".join(f"{n}  {run}" for run, n in numbers.items())
    axes[0].figure.text(0.01, -0.02, key, fontsize=8, va="top", ha="left")  # under the panels: bbox_inches keeps it
    return axes[0].figure


def _plot_panel(ax, summary: pd.DataFrame, column: str, label: str, numbers: dict) -> None:
    for run, row in summary.iterrows():
        err = [[max(0.0, row.accuracy - row.accuracy_low)], [max(0.0, row.accuracy_high - row.accuracy)]]  # float dust
        reference = row.setting in REFERENCES
        marked = row.get("marked") or ""
        colour = COLOURS.get(row.setting)  # runs of one setting share a colour
        points = ax.errorbar(row[column], row.accuracy, yerr=err, fmt="*" if marked else "s" if reference else "o",
                             markersize=11 if marked else 6, color=colour, capsize=3, label=marked or None)
        if reference:
            ax.axhline(row.accuracy, ls="--", lw=1, color=points[0].get_color(), label=f"{row.setting} (reference)")
        ax.annotate(str(numbers[run]), (row[column], row.accuracy), textcoords="offset points", xytext=(5, 5),
                    fontsize=9)
    on_front = summary[pareto_front(summary[column].astype(float), summary.accuracy.astype(float))]
    if len(on_front) > 1:  # one point is no line: not drawn, not in the legend
        front = on_front.sort_values([column, "accuracy"])
        ax.step(front[column], front.accuracy, where="post", color="tab:green", alpha=0.6, lw=1.5,
                label="Pareto front")
    ax.set_xlabel(label)
    ax.set_ylabel("accuracy (95% Wilson CI)")
    ax.set_title(f"accuracy against {label.split(' (')[0]}")
    ax.grid(alpha=0.3)
    handles, labels = ax.get_legend_handles_labels()
    if handles:
        unique = dict(zip(labels, handles))  # one entry per label (two skyline runs draw two lines)
        ax.legend(unique.values(), unique.keys(), fontsize=8, loc="best")


def plot_positions(interventions: pd.DataFrame, bins: int = 10, ax=None):
    """Histogram of where in the response (0 = start, 1 = end) the teacher intervened, one series per run."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(7, 4))
    series = {run: g.relative_position.clip(0, 1) for run, g in interventions.groupby("run", sort=False)}
    ax.hist(list(series.values()), bins=np.linspace(0, 1, bins + 1), label=list(series), stacked=False)
    ax.set_xlabel("relative position of the rejected unit in the response")
    ax.set_ylabel("interventions")
    ax.legend(fontsize=8)
    return ax.figure


def render(summary: pd.DataFrame, rounds: pd.DataFrame, interventions: pd.DataFrame,
           paired: pd.DataFrame | None = None, noise=None) -> str:
    """The whole report as Markdown text: the run table, the same-problems comparison when there are
    several runs, then feedback and speculative sections if any."""
    parts = ["## Runs", markdown_table(display_table(summary))]
    if paired is not None and not paired.empty:
        parts += _paired_section(summary, paired)
        parts += noise_section(paired, noise) if noise is not None else []  # reruns given: is it numerics?
    if not rounds.empty:
        parts += ["## Feedback: copy rate (refinements identical to the previous attempt)",
                  markdown_table(copy_table(summary)),
                  "## Feedback: round-to-round changes in correctness (only refinements that changed the text)",
                  markdown_table(transitions(rounds)),
                  "## Feedback: teacher accept rate by the round's correctness", markdown_table(accept_rates(rounds))]
    if not interventions.empty:
        parts += ["## Speculative: intervention positions (fraction of the response)",
                  markdown_table(position_histogram(interventions))]
    return "\n\n".join(parts) + "\n"


def display_paired(paired: pd.DataFrame) -> pd.DataFrame:
    """The paired table as readable strings; the reference's own row has no split to test."""
    shown = pd.DataFrame(index=paired.index)
    shown["accuracy"] = paired.accuracy.map(lambda v: f"{v:.3f}")
    shown["right only here"] = paired.only_this_right
    shown["right only in reference"] = paired.only_reference_right
    shown["McNemar exact p"] = paired.mcnemar_p.map(lambda v: "-" if pd.isna(v) else f"{v:.3g}")
    return shown


def _paired_section(summary: pd.DataFrame, paired: pd.DataFrame) -> list[str]:
    common, reference = paired.n_common.iloc[0], paired.reference.iloc[0]
    if common == 0:
        return ["## Paired", "No problem is in every run: these runs cannot be compared on the same problems."]
    parts = [f"## Paired: the {common} problems every run has, against {reference}"]
    if not (summary.n == common).all():
        parts.append(f"The runs cover different problems (n from {summary.n.min()} to {summary.n.max()}): the "
                     f"table above compares accuracies over different sets; this one on the same {common}.")
    return [*parts, markdown_table(display_paired(paired))]


def write_report(df: pd.DataFrame, rounds: pd.DataFrame, interventions: pd.DataFrame, out: Path,
                 noise=None) -> dict[str, Path]:
    """Write report.md, report.csv, cost_accuracy.png, paired.csv (two runs or more) and the feedback /
    speculative tables and plot where there are such runs; `noise`: reruns' noise floor beside the pairs."""
    import matplotlib.pyplot as plt

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    summary, paired = run_table(df), paired_table(df)
    paths = {"markdown": out / "report.md", "csv": out / "report.csv", "plot": out / "cost_accuracy.png"}
    paths["markdown"].write_text(render(summary, rounds, interventions, paired, noise))
    summary.to_csv(paths["csv"])
    if not paired.empty:  # a single run is paired with nothing
        paths["paired"] = out / "paired.csv"
        paired.to_csv(paths["paired"])
    _save(plot_cost_accuracy(summary), paths["plot"], plt)
    if not rounds.empty:
        paths["transitions"] = out / "feedback_transitions.csv"
        transitions(rounds, by_round=True).to_csv(paths["transitions"])
        paths["accept_rates"] = out / "feedback_accept_rates.csv"
        accept_rates(rounds).to_csv(paths["accept_rates"])
    if not interventions.empty:
        paths["positions"] = out / "intervention_positions.csv"
        position_histogram(interventions).to_csv(paths["positions"])
        paths["positions_plot"] = out / "intervention_positions.png"
        _save(plot_positions(interventions), paths["positions_plot"], plt)
    return paths


def _summary_columns() -> list[str]:
    acc = ["accuracy", "accuracy_low", "accuracy_high", "strict_accuracy", "strict_accuracy_low", "strict_accuracy_high"]
    return ["run", "setting", "n", *acc, *PER_PROBLEM, "seconds", *COUNTS, *COPIES, "grader_timeouts",
            "placeholders", "marked", "run_dirs"]


def _summary_row(run: str, g: pd.DataFrame) -> dict:
    nums = numbers(g)  # the same numbers as summary.json
    n, per_problem = nums["n"], nums["cost_per_problem"]
    return {
        "run": run, "setting": ", ".join(map(str, g.setting.unique())), "n": n,
        "accuracy": nums["accuracy"], **dict(zip(("accuracy_low", "accuracy_high"), wilson(nums["correct"], n))),
        "strict_accuracy": nums["strict_accuracy"],
        **dict(zip(("strict_accuracy_low", "strict_accuracy_high"), wilson(nums["strict_correct"], n))),
        **{column: per_problem[role][metric] for column, (role, metric) in PER_PROBLEM.items()},
        "seconds": sum(cost["seconds"] for cost in per_problem.values()),
        **{count: math.nan if nums[count] is None else nums[count] for count in (*COUNTS, *COPIES)},
        "grader_timeouts": nums["grader_timeouts"], "placeholders": nums["placeholders"],
        "marked": _marked(g), "run_dirs": ";".join(sorted(g.run_dir.unique())),
    }


def _marked(g: pd.DataFrame) -> str:
    """The plot's mark for a run whose config is in `MARKED` (token/argmax), else ""."""
    knobs = tuple(g[c].iloc[0] if c in g else None for c in ("setting.granularity", "setting.criterion"))
    return MARKED.get(knobs, "")


def _changed_text(ordered: pd.DataFrame) -> pd.Series:
    """Per round (rows ordered by problem and round): False where it is a verbatim copy of the one before."""
    changed = pd.Series(True, index=ordered.index)
    for _, problem in ordered.groupby(["run_dir", "id"], sort=False):
        if len(problem) > 1:
            marks = copying.refinements(problem.to_dict("records"))
            changed[problem.index[1:]] = [not m["identical_to_previous"] for m in marks]
    return changed


def _transition(before: bool, after: bool) -> str:
    return {(False, True): "wrong_to_right", (True, False): "right_to_wrong",
            (True, True): "stayed_right", (False, False): "stayed_wrong"}[(before, after)]


def _rate(hits: pd.Series) -> float:
    return float(hits.mean()) if len(hits) else math.nan


def _with_ci(p: float, low: float, high: float) -> str:
    return f"{p:.3f} [{low:.3f}, {high:.3f}]"


def _cell(value) -> str:
    if isinstance(value, float):
        return "-" if math.isnan(value) else f"{value:.4g}"
    return str(value).replace("|", "\\|")


def _save(figure, path: Path, plt) -> None:
    with warnings.catch_warnings():  # long point labels can't fit any layout; bbox_inches below keeps them
        warnings.filterwarnings("ignore", message="Tight layout not applied", category=UserWarning)
        figure.tight_layout()
    figure.savefig(path, dpi=120, bbox_inches="tight")  # long point labels stay inside
    plt.close(figure)
