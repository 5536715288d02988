"""summary.json's numbers against hand-computed values; the report's run table reads the same numbers."""
import math

import matplotlib
import pytest
from fixtures_results import baseline_records, config, record, skyline_records, write_run, write_runs

from reasoning.results import report
from reasoning.results.load import load
from reasoning.results.summary import summarize

matplotlib.use("Agg")


def test_accuracy_and_strict_accuracy_by_hand():
    summary = summarize(baseline_records())  # correct T F F T, strict T F F F
    assert (summary["n"], summary["correct"], summary["strict_correct"]) == (4, 2, 1)
    assert (summary["accuracy"], summary["strict_accuracy"]) == (0.5, 0.25)


def test_cost_totals_and_per_problem_by_hand():
    summary = summarize(skyline_records())  # teacher generated 200, 180, 220, 200; passes +1; 2 s each
    teacher = summary["cost"]["teacher"]
    assert (teacher["generated_tokens"], teacher["forward_passes"], teacher["seconds"]) == (800, 804, 8.0)
    per = summary["cost_per_problem"]["teacher"]
    assert (per["generated_tokens"], per["forward_passes"], per["seconds"]) == (200, 201, 2.0)
    assert summary["cost_per_problem"]["student"]["generated_tokens"] == 0


def test_old_records_count_every_prompt_and_generated_token_as_computed():
    per = summarize(skyline_records())["cost_per_problem"]["teacher"]
    assert (per["computed_tokens"], per["cached_tokens"]) == (300, 0)  # 100 prompt + 200 generated; no cache then


def _cached(i, correct, teacher, timed_out=False):
    """A record with the backend's cache fields: teacher = (prompt, generated, cached, computed)."""
    prompt, generated, cached, computed = teacher
    cost = {"student": {"prompt_tokens": 50, "generated_tokens": 10, "forward_passes": 10, "seconds": 1.0,
                        "cached_tokens": 0, "computed_tokens": 59},
            "teacher": {"prompt_tokens": prompt, "generated_tokens": generated, "forward_passes": generated + 1,
                        "seconds": 0.5, "cached_tokens": cached, "computed_tokens": computed}}
    return record("feedback", i, correct, cost=cost, timed_out=timed_out)


CACHED = [_cached(0, True, (400, 20, 300, 120)), _cached(1, False, (200, 10, 0, 210), timed_out=True),
          _cached(2, True, (600, 30, 500, 130))]


def test_computed_and_cached_columns_and_the_cost_axis(tmp_path):
    write_run(tmp_path / "fb", config("feedback"), CACHED)
    df = load(tmp_path)
    assert df.teacher_computed_tokens.tolist() == [120, 210, 130]
    assert df.teacher_cached_tokens.tolist() == [300, 0, 500]
    assert df.student_computed_tokens.tolist() == [59, 59, 59]
    row = report.run_table(df).loc["feedback"]
    assert row.teacher_computed_tokens == pytest.approx(460 / 3)
    assert row.teacher_generated_tokens == 20  # (20 + 10 + 30) / 3, kept beside the cost axis
    assert row.grader_timeouts == 1
    shown = report.display_table(report.run_table(df))
    assert shown.loc["feedback", "teacher tokens computed/problem"] == "153.3"
    assert shown.loc["feedback", "grader timeouts"] == 1
    ax = report.plot_cost_accuracy(report.run_table(df)).axes[0]
    assert [c.lines[0].get_xdata()[0] for c in ax.containers] == pytest.approx([460 / 3])
    assert "computed" in ax.get_xlabel()


def test_grader_timeouts_reach_the_summary():
    summary = summarize(CACHED)
    assert (summary["grader_timeouts"], summary["placeholders"]) == (1, 0)
    assert summarize(baseline_records())["grader_timeouts"] == 0  # old records without the field


def test_the_run_table_and_summary_json_give_the_same_numbers(tmp_path):
    paths = write_runs(tmp_path)
    table = report.run_table(load(tmp_path))
    from reasoning.results import read_records
    for run, folder in (("baseline", "baseline"), ("skyline", "skyline"), ("feedback (max_rounds=3)", "feedback3")):
        summary = summarize(read_records(paths[folder] / "results.jsonl"))
        row = table.loc[run]
        assert (row.accuracy, row.strict_accuracy) == (summary["accuracy"], summary["strict_accuracy"])
        assert row.teacher_generated_tokens == summary["cost_per_problem"]["teacher"]["generated_tokens"]
        if summary["rounds"] is not None:
            assert row.rounds == summary["rounds"]
        else:
            assert math.isnan(row.rounds)


def test_an_empty_run():
    summary = summarize([])
    assert (summary["n"], summary["accuracy"], summary["setting"]) == (0, None, None)


# --- feedback's copy rate -------------------------------------------------------------------------
def copy_records():
    """Problem 0: round 2 copies round 1 (wrong), round 3 changes ("x" -> "xy", kept 2*1/3) and is right.
    Problem 1: one round. Problem 2: round 2 as recorded by the setting (changed, kept 0.5), right."""
    def rounds(*entries):
        return [{"round": r, "verdict": "revise", **e} for r, e in enumerate(entries, start=1)]
    return [
        record("feedback", 0, True, rounds=rounds({"response": "x", "correct": False},
                                                  {"response": "x", "correct": False},
                                                  {"response": "xy", "correct": True})),
        record("feedback", 1, True, rounds=rounds({"response": "y", "correct": True})),
        record("feedback", 2, True, rounds=rounds({"response": "abcd", "correct": False},
                                                  {"response": "abxy", "correct": True,
                                                   "identical_to_previous": False, "kept": 0.5})),
    ]


def test_copy_rate_by_hand():
    summary = summarize(copy_records())
    assert (summary["refinements"], summary["identical_refinements"]) == (3, 1)
    assert summary["copy_rate"] == pytest.approx(1 / 3)
    assert summary["mean_kept"] == pytest.approx((1.0 + 0.667 + 0.5) / 3)
    assert summarize(baseline_records())["copy_rate"] is None  # no rounds: no copy rate
    one_round = summarize(copy_records()[1:2])
    assert (one_round["refinements"], one_round["copy_rate"]) == (0, None)


def test_copy_rate_of_the_shipped_feedback_run():
    """results/runs/gsm8k/2-feedback (records without the copy fields: they come from the round texts)."""
    from pathlib import Path

    from reasoning.results import read_records
    path = Path(__file__).resolve().parents[1] / "results/runs/gsm8k/2-feedback/results.jsonl"
    summary = summarize(read_records(path))
    assert (summary["refinements"], summary["identical_refinements"]) == (121, 97)


def test_the_report_shows_the_summarys_copy_rate_and_counts_only_changed_rounds(tmp_path):
    from reasoning.results.load import load_events
    write_run(tmp_path / "fb", config("feedback"), copy_records())
    table = report.run_table(load(tmp_path))
    copies = report.copy_table(table)
    assert copies.loc["feedback"].tolist() == pytest.approx([3, 1, 1 / 3, (1.0 + 0.667 + 0.5) / 3])
    rounds = load_events(tmp_path, level="rounds")
    # The copy (problem 0, 1->2, stayed wrong) is left out; the two changed refinements went wrong -> right.
    assert report.transitions(rounds).loc["feedback"].tolist() == [2, 0, 0, 0]
    assert report.transitions(rounds, by_round=True).loc[("feedback", "2->3")].tolist() == [1, 0, 0, 0]
    text = report.render(table, rounds, load_events(tmp_path, level="interventions"))
    assert "## Feedback: copy rate" in text and "| feedback | 3 | 1 | 0.3333 |" in text
    assert "(only refinements that changed the text)" in text


def test_runs_without_rounds_have_no_copy_rate_beside_a_feedback_run(tmp_path):
    write_run(tmp_path / "fb", config("feedback"), copy_records())
    write_run(tmp_path / "baseline", config("baseline"), baseline_records())
    table = report.run_table(load(tmp_path))
    assert math.isnan(table.loc["baseline", "copy_rate"]) and math.isnan(table.loc["baseline", "refinements"])
    assert report.copy_table(table).index.tolist() == ["feedback"]
