"""Which threshold should a speculative criterion use? Reads the `unit_scores` that verify events record
and shows how they separate units the teacher would have written itself from units it would not.

    python benchmarks/calibrate_threshold.py RUN_DIR [RUN_DIR ...] [--reference DIR] [--reject 0.02 0.05 0.1 0.2]

Label: a unit *agrees* when the teacher's greedy tokens equal it.
- argmax / logprob runs record it in every verify event (`unit_agrees`, from the same teacher pass);
- judge / score runs are labelled from a token/argmax run on the same problems (its response is the
  teacher's greedy text; given with --reference, or found among RUN_DIRs): a unit agrees when the text
  before it plus the unit continue that text, disagrees when only the text before it does; units after
  the two texts parted are left unlabelled.
Higher scores mean "accept" for every criterion (log-prob, judge margin, 0-9 score); a unit is rejected
when its score is below the threshold. Only checked units are scored: up to the first rejected unit of
each draft, so the sample leans towards the units a run accepted.
"""
from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout without installing

from reasoning.results.load import find_run_dirs, read_config  # noqa: E402
from reasoning.results.writer import first_of_each, read_records  # noqa: E402
from reasoning.settings.verify import unused_knobs  # noqa: E402

QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)
REJECT_RATES = (0.02, 0.05, 0.1, 0.2)
KNOBS = ("criterion", "granularity", "aggregate", "score_mode")  # named in each run's heading


@dataclass
class Unit:
    score: float
    agrees: bool | None  # None: no label


def auc(agreeing: list[float], disagreeing: list[float]) -> float | None:
    """P(an agreeing unit scores above a disagreeing one), ties counted half (Mann-Whitney)."""
    if not agreeing or not disagreeing:
        return None
    wins = sum((a > d) + 0.5 * (a == d) for a in agreeing for d in disagreeing)
    return wins / (len(agreeing) * len(disagreeing))


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(int(q * len(ordered)), len(ordered) - 1)]


def threshold_for(scores: list[float], reject_rate: float) -> float:
    """The threshold that rejects (score < threshold) at most `reject_rate` of these units."""
    return sorted(scores)[min(int(reject_rate * len(scores)), len(scores) - 1)]


def label_from_reference(before: str, unit: str, reference: str) -> bool | None:
    """Does the teacher's greedy text continue `before` with `unit`? None once the texts have parted."""
    if not reference.startswith(before):
        return None
    return reference.startswith(before + unit)


def units_of_problem(events: list[dict], response: str, reference: str | None) -> list[Unit]:
    """Every checked unit of one problem's trace, with its label where one can be had."""
    units, draft_text = [], ""
    for event in events:
        if event.get("event") == "draft":
            draft_text = event.get("text") or ""
        if event.get("event") != "verify":
            continue
        scores = event.get("unit_scores") or []
        if event.get("unit_agrees") is not None:
            units += [Unit(s, bool(a)) for s, a in zip(scores, event["unit_agrees"])]
            continue
        ends = event.get("unit_ends")
        if reference is None or ends is None:
            units += [Unit(s, None) for s in scores]
            continue
        solution = response[: event["solution_chars"]]
        for score, start, end in zip(scores, [0, *ends], ends):
            units.append(Unit(score, label_from_reference(solution + draft_text[:start], draft_text[start:end],
                                                          reference)))
    return units


def describe(label: str, config: dict, units: list[Unit], reject_rates) -> str:
    unused = unused_knobs(str(config.get("setting.criterion")))  # a logprob run's score_mode is not its knob
    knobs = ", ".join(f"{k}={config['setting.' + k]}" for k in KNOBS
                      if config.get("setting." + k) is not None and k not in unused)
    agree = [u.score for u in units if u.agrees is True]
    disagree = [u.score for u in units if u.agrees is False]
    lines = [f"{label} ({knobs}): {len(units)} units scored, {len(agree) + len(disagree)} labelled "
             f"({len(agree)} agree, {len(disagree)} disagree)"]
    if not units:
        return lines[0]
    separation = auc(agree, disagree)
    lines.append("  AUC (agreeing units scored above disagreeing): "
                 + ("n/a (needs both labels)" if separation is None else f"{separation:.3f}"))
    lines.append("  quantiles  " + "".join(f"{q:>9.0%}" for q in QUANTILES))
    for name, values in (("all", [u.score for u in units]), ("agree", agree), ("disagree", disagree)):
        if values:
            lines.append(f"  {name:<10} " + "".join(f"{quantile(values, q):>9.3f}" for q in QUANTILES))
    lines.append("  target reject rate | threshold | rejected | disagreeing caught | agreeing rejected")
    scores = [u.score for u in units]
    for rate in reject_rates:
        t = threshold_for(scores, rate)
        lines.append(f"  {rate:>18.0%} | {t:>9.3f} | {_percent(_share(scores, t)):>8} | "
                     f"{_percent(_share(disagree, t)):>18} | {_percent(_share(agree, t)):>17}")
    return "\n".join(lines)


def _share(values: list[float], threshold: float) -> float | None:
    return sum(v < threshold for v in values) / len(values) if values else None


def _percent(share: float | None) -> str:
    return "n/a" if share is None else f"{share:.1%}"


def is_reference(config: dict) -> bool:
    return config.get("setting.granularity") == "token" and config.get("setting.criterion") == "argmax"


def calibrate(paths, reference_path=None, reject_rates=REJECT_RATES) -> str:
    runs = {d: (read_config(d), _records(d)) for d in find_run_dirs(paths)}
    if reference_path is not None:
        reference = [_records(d) for d in find_run_dirs([reference_path])][0]
    else:
        reference = next((records for config, records in runs.values() if is_reference(config)), None)
    references = {r["id"]: r.get("response", "") for r in reference or []}
    out = [f"labels for judge/score units from: {'a token/argmax run' if references else 'none found'}"]
    for folder, (config, records) in runs.items():
        if is_reference(config) and reference_path is None:
            continue  # the reference agrees with itself wherever it accepted: nothing to calibrate
        units = [unit for r in records
                 for unit in units_of_problem(r.get("trace") or [], r.get("response", ""), references.get(r["id"]))]
        out.append(describe(str(folder), config, units, reject_rates))
    return "\n\n".join(out)


def _records(folder: Path) -> list[dict]:
    return first_of_each(read_records(folder / "results.jsonl"), folder)  # as load() counts them


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", help="run folders (or folders above them) with recorded verify events")
    parser.add_argument("--reference", help="a token/argmax run on the same problems, to label judge/score units")
    parser.add_argument("--reject", nargs="+", type=float, default=list(REJECT_RATES),
                        help="target shares of units to reject, for the suggested thresholds")
    args = parser.parse_args(argv)
    print(calibrate(args.runs, args.reference, args.reject))


if __name__ == "__main__":
    main()
