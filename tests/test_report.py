"""The report's numbers against hand-computed ones, its files, the CLI and the notebook."""

import os
import subprocess
import sys
from pathlib import Path

import matplotlib
import pandas as pd
import pytest
from fixtures_results import baseline_records, config, execute_notebook, skyline_records, write_run, write_runs

from reasoning.results import paired, report
from reasoning.results.load import load, load_events

matplotlib.use("Agg")
ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "results" / "compare_settings.ipynb"
FB2, FB3 = "feedback (max_rounds=2)", "feedback (max_rounds=3)"


@pytest.fixture
def root(tmp_path):
    write_runs(tmp_path)
    return tmp_path


@pytest.fixture
def summary(root):
    return report.run_table(load(root))


def test_wilson_interval_matches_known_values():
    assert report.wilson(2, 4) == pytest.approx((0.1500, 0.8500), abs=1e-4)
    assert report.wilson(3, 4) == pytest.approx((0.3006, 0.9544), abs=1e-4)
    assert report.wilson(1, 4) == pytest.approx((0.0456, 0.6994), abs=1e-4)
    assert report.wilson(0, 10)[0] == 0 and report.wilson(10, 10)[1] == pytest.approx(1)
    assert all(map(pd.isna, report.wilson(0, 0)))


def test_summary_rows_in_setting_order(summary):
    assert summary.index.tolist() == ["baseline", FB2, FB3, "speculative", "skyline"]
    assert summary.n.tolist() == [4, 4, 4, 4, 4]
    assert summary.accuracy.tolist() == [0.5, 0.5, 0.75, 0.75, 0.75]
    assert summary.strict_accuracy.tolist() == [0.25, 0.5, 0.75, 0.75, 0.75]
    assert summary.loc["skyline", ["accuracy_low", "accuracy_high"]].tolist() == pytest.approx([0.3006, 0.9544], abs=1e-4)


def test_summary_costs_per_problem(summary):
    # baseline: student 100, 80, 120, 100; skyline: teacher 200, 180, 220, 200 with gen+1 passes;
    # feedback: 80 student tokens a round, 20 teacher tokens (21 passes) a review;
    # speculative: 10 teacher tokens per correction, passes 5, 3, 4, 4.
    expected = pd.DataFrame({
        "student_generated_tokens": [100, 120, 180, 100, 0],
        "teacher_generated_tokens": [0, 25, 35, 10, 200],
        "teacher_forward_passes": [0, 26.25, 36.75, 4, 201],
        "seconds": [1.0, 1.5, 1.5, 1.25, 2.0],
    }, index=summary.index, dtype=float)
    pd.testing.assert_frame_equal(summary[expected.columns], expected)
    assert summary.rounds.tolist()[1:3] == [1.5, 2.25]
    assert summary.loc["speculative", "interventions"] == 1.0
    assert summary.loc["baseline", ["rounds", "interventions"]].isna().all()


def test_display_table_shows_strict_accuracy_only_where_it_differs(summary):
    shown = report.display_table(summary)
    assert shown.loc["baseline", "accuracy [95% CI]"] == "0.500 [0.150, 0.850]"
    assert shown.loc["baseline", "strict [95% CI]"] == "0.250 [0.046, 0.699]"
    assert "strict [95% CI]" not in report.display_table(summary.drop(index="baseline")).columns
    assert shown.loc["skyline", "rounds/problem"] == "-"


def test_plot_survives_zero_accuracy(summary):
    zero = summary.assign(accuracy=0.0, accuracy_low=report.wilson(0, 4)[0], accuracy_high=report.wilson(0, 4)[1])
    assert report.plot_cost_accuracy(zero).axes


def test_feedback_transitions(root):
    rounds = load_events(root, level="rounds")
    totals = report.transitions(rounds)
    assert totals.loc[FB2].tolist() == [1, 1, 0, 0]  # wrong->right, right->wrong, stayed right, stayed wrong
    assert totals.loc[FB3].tolist() == [2, 0, 0, 3]
    by_round = report.transitions(rounds, by_round=True)
    assert by_round.loc[(FB3, "1->2")].tolist() == [1, 0, 0, 2]
    assert by_round.loc[(FB3, "2->3")].tolist() == [1, 0, 0, 1]


def test_feedback_accept_rates(root):
    rates = report.accept_rates(load_events(root, level="rounds"))
    # max_rounds=2: right rounds accept, revise, accept; wrong rounds revise, accept; unreviewed round left out.
    assert rates.loc[FB2].tolist() == pytest.approx([3, 2 / 3, 2, 0.5, 0])
    # max_rounds=3: right rounds both accepted; five wrong rounds, none accepted, one unparseable.
    assert rates.loc[FB3].tolist() == pytest.approx([2, 1.0, 5, 0.0, 1])


def test_intervention_position_histogram(root):
    hist = report.position_histogram(load_events(root, level="interventions"))
    assert hist.loc["speculative"].tolist() == [1, 0, 0, 0, 0, 1, 0, 0, 0, 2]  # 0.05, 0.55, 0.95, 1.0
    assert hist.columns[0] == "0.0-0.1"


def test_no_feedback_or_speculative_runs_give_empty_tables(root):
    rounds = load_events(root / "baseline", level="rounds")
    assert report.transitions(rounds).empty and report.accept_rates(rounds).empty
    assert report.position_histogram(load_events(root / "baseline", level="interventions")).empty
    assert "Feedback" not in report.render(report.run_table(load(root / "baseline")), rounds, rounds)


def test_write_report_files(root, tmp_path):
    out = tmp_path / "report"
    paths = report.write_report(load(root), load_events(root, level="rounds"),
                                load_events(root, level="interventions"), out)
    assert set(paths) == {"markdown", "csv", "paired", "plot", "transitions", "accept_rates", "positions",
                          "positions_plot"}
    for name in ("plot", "positions_plot"):
        assert paths[name].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and paths[name].stat().st_size > 5000
    table = pd.read_csv(paths["csv"], index_col="run")
    assert table.loc[FB3, "teacher_generated_tokens"] == 35
    assert "| feedback (max_rounds=3) | feedback | 4 | 0.750 [0.301, 0.954]" in paths["markdown"].read_text()


def test_mcnemar_exact_matches_the_binomial_tail():
    assert paired.mcnemar_exact(0, 0) == 1.0
    assert paired.mcnemar_exact(5, 0) == paired.mcnemar_exact(0, 5) == pytest.approx(2 / 32)
    assert paired.mcnemar_exact(1, 9) == pytest.approx(2 * (1 + 10) / 1024)
    assert paired.mcnemar_exact(2, 1) == 1.0  # 2 * 4/8, capped


def test_paired_table_compares_runs_on_the_problems_all_of_them_have(root):
    # baseline [R, W, W, R], skyline [R, R, R, W] on problems 0-3; every run of the fixture has all four.
    table = paired.paired_table(load(root))
    assert table.reference.unique().tolist() == ["skyline"]
    assert table.n_common.unique().tolist() == [4]
    assert table.loc["baseline", ["only_this_right", "only_reference_right"]].tolist() == [1, 2]
    assert table.loc["baseline", "accuracy"] == 0.5 and pd.isna(table.loc["skyline", "mcnemar_p"])


def test_runs_over_different_problems_are_compared_on_the_common_ones(tmp_path):
    write_run(tmp_path / "baseline", config("baseline"), baseline_records())  # problems 0-3
    write_run(tmp_path / "skyline", config("skyline"), skyline_records()[:3])  # 0-2, all right
    df = load(tmp_path)
    table = paired.paired_table(df)
    assert table.n_common.unique().tolist() == [3]
    assert table.loc["baseline", "accuracy"] == pytest.approx(1 / 3)  # 0.5 over its own four
    assert table.loc["baseline", ["only_this_right", "only_reference_right"]].tolist() == [0, 2]
    assert table.loc["baseline", "mcnemar_p"] == pytest.approx(0.5)
    text = report.render(report.run_table(df), load_events(tmp_path), load_events(tmp_path), table)
    assert "## Paired: the 3 problems every run has, against skyline" in text
    assert "different problems (n from 3 to 4)" in text


def test_same_problems_cuts_every_run_to_the_common_ones_in_the_table_and_plot(tmp_path):
    write_run(tmp_path / "baseline", config("baseline"), baseline_records())  # problems 0-3, two right
    write_run(tmp_path / "skyline", config("skyline"), skyline_records()[:3])  # 0-2, all right
    done = subprocess.run([sys.executable, "-m", "reasoning.report", str(tmp_path), "--same-problems"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    table = pd.read_csv(tmp_path / "report.csv", index_col="run")
    assert table.n.tolist() == [3, 3] and table.loc["baseline", "accuracy"] == pytest.approx(1 / 3)
    assert "different problems" not in done.stdout
    kept, _ = paired.on_common_problems(load(tmp_path), load_events(tmp_path))
    assert sorted(kept.id.unique()) == sorted(skyline_records()[i]["id"] for i in range(3))


def test_a_run_on_another_dataset_shares_no_problem(tmp_path):
    write_run(tmp_path / "baseline", config("baseline"), baseline_records())
    other = [{**r, "question": "another " + r["question"]} for r in skyline_records()]  # same ids, other text
    write_run(tmp_path / "skyline", config("skyline"), other)
    table = paired.paired_table(load(tmp_path))
    assert table.n_common.unique().tolist() == [0] and table.accuracy.isna().all()


def _env(**extra):
    env = dict(os.environ, **extra)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env


def test_cli_prints_and_writes_into_the_first_folder(root):
    done = subprocess.run([sys.executable, "-m", "reasoning.report", str(root / "sweep"), str(root / "baseline")],
                          capture_output=True, text=True, env=_env(), cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "| feedback (max_rounds=2) |" in done.stdout and "| baseline |" in done.stdout
    assert (root / "sweep" / "cost_accuracy.png").stat().st_size > 0
    assert (root / "sweep" / "report.csv").is_file()


def test_cli_out_and_a_missing_folder(root, tmp_path):
    done = subprocess.run([sys.executable, "-m", "reasoning.report", str(root), "--out", str(tmp_path / "o")],
                          capture_output=True, text=True, env=_env(), cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "o" / "intervention_positions.png").is_file()
    done = subprocess.run([sys.executable, "-m", "reasoning.report", str(tmp_path / "nothing")],
                          capture_output=True, text=True, env=_env(), cwd=ROOT, timeout=120)
    assert done.returncode == 2 and "does not exist" in done.stderr


def test_notebook_is_stored_without_outputs():
    nbformat = pytest.importorskip("nbformat")
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    assert all(not c.get("outputs") and not c.get("execution_count") for c in notebook.cells if c.cell_type == "code")


def test_notebook_runs_headless_on_the_fixture_runs(root, monkeypatch):
    outputs = execute_notebook(NOTEBOOK, [root / "sweep", root], monkeypatch)
    assert not [o for o in outputs if o.output_type == "error"]
    assert any("image/png" in o.get("data", {}) for o in outputs)


# --- single runs and the cost-accuracy plot -------------------------------------------------------
def test_a_single_run_report_pairs_nothing(root, tmp_path):
    df = load(root / "sweep" / "0")
    assert paired.paired_table(df).empty
    paths = report.write_report(df, load_events(root / "sweep" / "0"), load_events(root / "sweep" / "0",
                                level="interventions"), tmp_path / "one")
    assert "paired" not in paths and not (tmp_path / "one" / "paired.csv").exists()
    assert "## Paired" not in paths["markdown"].read_text()
    two = report.write_report(load(root / "sweep"), load_events(root / "sweep"),
                              load_events(root / "sweep", level="interventions"), tmp_path / "two")
    assert two["paired"].is_file()


def _legend(ax) -> list[str]:
    legend = ax.get_legend()
    return [t.get_text() for t in legend.get_texts()] if legend else []


def test_a_single_run_plot_names_only_what_it_draws(root):
    figure = report.plot_cost_accuracy(report.run_table(load(root / "sweep" / "0")))
    for ax in figure.axes:
        assert _legend(ax) == []  # no baseline/skyline lines and no one-point front are drawn: none are named
        assert "baseline" not in ax.get_title() and "skyline" not in ax.get_title()
        assert not [line for line in ax.get_lines() if line.get_linestyle() == "--"]
    figure = report.plot_cost_accuracy(report.run_table(load(root / "baseline")))
    assert _legend(figure.axes[0]) == ["baseline (reference)"]


@pytest.mark.parametrize("cost, accuracy, front", [
    ([0, 4, 26.25, 36.75, 201], [0.5, 0.75, 0.5, 0.75, 0.75], [True, True, False, False, False]),
    ([10, 10], [0.6, 0.6], [True, True]),  # an exact tie: neither beats the other
    ([10, 20], [0.6, 0.6], [True, False]),  # as accurate at more cost: beaten
    ([10, 10], [0.6, 0.5], [True, False]),  # less accurate at the same cost: beaten
    ([10, 20], [0.5, 0.6], [True, True]),  # a trade-off: both
    ([float("nan"), 5], [0.9, 0.1], [False, True]),  # a missing cost is not on the front
    ([], [], []),
])
def test_pareto_front(cost, accuracy, front):
    assert report.pareto_front(cost, accuracy) == front


def test_the_plot_has_a_panel_per_teacher_cost_with_its_front(root):
    figure = report.plot_cost_accuracy(report.run_table(load(root)))
    tokens, passes = figure.axes
    assert "tokens computed" in tokens.get_xlabel() and "forward passes" in passes.get_xlabel()
    # Passes per problem: baseline 0 (0.5), speculative 4 (0.75) beat both feedback runs and the skyline.
    staircase, = [line for line in passes.get_lines() if line.get_label() == "Pareto front"]
    assert staircase.get_xdata().tolist() == [0, 4] and staircase.get_ydata().tolist() == [0.5, 0.75]
    assert _legend(passes) == ["baseline (reference)", "skyline (reference)", "Pareto front"]


def test_token_argmax_is_marked(tmp_path):
    from fixtures_results import speculative_record
    write_run(tmp_path / "skyline", config("skyline"), skyline_records())
    write_run(tmp_path / "lossless", config("speculative", granularity="token", criterion="argmax"),
              [speculative_record(i, True, [0.5], 4) for i in range(4)])
    table = report.run_table(load(tmp_path))
    assert table.marked.tolist() == ["token/argmax", ""]  # speculative sorts before skyline
    assert "token/argmax" in _legend(report.plot_cost_accuracy(table).axes[0])


def test_dtype_fast_reads_as_the_dtype_it_ran_in(tmp_path):
    """`fast` is bf16 on one machine and float32 on another: a run labelled `dtype=fast` would hide that
    two runs differ in dtype, or that a `fast` and a `bfloat16` run are the same."""
    import json

    fast, bf16 = config("baseline", student__dtype="fast"), config("baseline", student__dtype="bfloat16")
    write_run(tmp_path / "a", fast, baseline_records())
    (tmp_path / "a" / "environment.json").write_text(json.dumps({"models": {"student": {"dtype_resolved": "float32"}}}))
    write_run(tmp_path / "b", bf16, baseline_records())
    write_run(tmp_path / "c", fast, baseline_records())  # recorded before dtype_resolved: the hardware tells
    (tmp_path / "c" / "environment.json").write_text(json.dumps({"hardware": {"cpu_native_bf16": True}}))
    df = load(tmp_path)
    assert df.groupby("run_dir")["student.dtype"].first().to_dict() == {
        str(tmp_path / "a"): "float32", str(tmp_path / "b"): "bfloat16", str(tmp_path / "c"): "bfloat16"}
    assert set(df.run) == {"baseline (student.dtype=float32)", "baseline (student.dtype=bfloat16) [b]",
                           "baseline (student.dtype=bfloat16) [c]"}


def test_a_long_point_label_saves_the_plot_without_a_warning(tmp_path):
    """A run label annotated at the rightmost point overflows the panel (as the shipped refine report's
    did): saving must not print matplotlib's tight-layout warning on the user's console."""
    import warnings

    import matplotlib.pyplot as plt

    figure, ax = plt.subplots(1, 2, figsize=(13, 4.5))
    for panel in ax:
        panel.plot([0, 1], [0, 1])
        panel.annotate("feedback (refine_format=single, refine_prompt=student_refine, student.dtype=bfloat16) " * 2,
                       (1, 1), textcoords="offset points", xytext=(5, 5), fontsize=8)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        report._save(figure, tmp_path / "plot.png", plt)
    assert (tmp_path / "plot.png").stat().st_size > 5000
