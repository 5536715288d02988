"""`python -m reasoning.report RUN_OR_SWEEP_DIR... [--out DIR] [--noise RERUN_DIR...] [--same-problems]`: print the report and write its files.

Writes report.md, report.csv, paired.csv and cost_accuracy.png (plus feedback and speculative tables) into --out,
by default the first folder given.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless: the report only writes files

from reasoning.errors import ReasoningError  # noqa: E402
from reasoning.results.load import load, load_events  # noqa: E402
from reasoning.results.noise import noise_floor  # noqa: E402
from reasoning.results.paired import on_common_problems  # noqa: E402
from reasoning.results.report import write_report  # noqa: E402


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m reasoning.report", description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="+", type=Path, help="run folders, sweep folders or folders holding them")
    parser.add_argument("--out", type=Path, help="where to write the report (default: the first path)")
    parser.add_argument("--noise", nargs="+", type=Path, metavar="RERUN_DIR",
                        help="reruns of one config: a noise-floor line beside the paired comparison")
    parser.add_argument("--same-problems", action="store_true",
                        help="cut every run to the problems all runs have (runs of different sizes, like with like)")
    args = parser.parse_args(argv)
    try:
        df = load(*args.paths)
        rounds = load_events(*args.paths, level="rounds")
        interventions = load_events(*args.paths, level="interventions")
        noise = noise_floor(load(*args.noise)) if args.noise else None
        if args.same_problems:
            df, rounds, interventions = on_common_problems(df, rounds, interventions)
    except ReasoningError as error:
        parser.exit(2, f"error: {error}\n")
    out = args.out or (args.paths[0] if args.paths[0].is_dir() else args.paths[0].parent)
    paths = write_report(df, rounds, interventions, out, noise)
    print(paths["markdown"].read_text())  # the report just written, not computed a second time
    print("wrote " + ", ".join(str(p) for p in paths.values()), file=sys.stderr)


if __name__ == "__main__":
    main()
