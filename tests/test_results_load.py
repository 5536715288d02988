"""The loader on fake run folders: single runs, sweeps, shards, a torn last line, duplicates."""

import logging

import pytest
from fixtures_results import baseline_records, config, write_run, write_runs

from reasoning.errors import ReasoningError
from reasoning.results.load import flatten, load, load_events


@pytest.fixture
def runs(tmp_path):
    return write_runs(tmp_path)


def test_loads_every_run_below_a_folder(tmp_path, runs):
    df = load(tmp_path)
    assert len(df) == 20
    assert df.groupby("setting").correct.mean().to_dict() == {
        "baseline": 0.5, "feedback": 0.625, "skyline": 0.75, "speculative": 0.75}
    assert sorted(df.run.unique()) == [
        "baseline", "feedback (max_rounds=2)", "feedback (max_rounds=3)", "skyline", "speculative"]


def test_config_keys_become_dotted_columns_without_targets(tmp_path, runs):
    df = load(tmp_path)
    for column in ("seed", "setting.max_new_tokens", "setting.max_rounds", "student.name", "dataset.name", "run.shard"):
        assert column in df.columns
    assert not [c for c in df.columns if "_target_" in c]
    feedback = df[df.setting == "feedback"]
    assert sorted(feedback["setting.max_rounds"].unique()) == [2, 3]
    assert df["setting.max_rounds"].isna().sum() == 12  # only feedback has the knob


def test_costs_are_flat_columns_and_unused_roles_cost_zero(runs):
    df = load(runs["baseline"])
    assert df.student_generated_tokens.tolist() == [100, 80, 120, 100]
    assert df.student_forward_passes.tolist() == [101, 81, 121, 101]
    assert (df[["teacher_generated_tokens", "teacher_forward_passes", "teacher_seconds"]] == 0).all().all()


def test_counts_of_rounds_and_interventions(runs):
    assert load(runs["feedback2"]).n_rounds.tolist() == [2, 1, 2, 1]
    spec = load(runs["speculative0"].parent)
    assert spec.n_interventions.tolist() == [2, 0, 1, 1]
    assert "n_rounds" not in spec.columns


def test_a_sweep_folder_and_single_runs(runs):
    assert len(load(runs["sweep"])) == 8
    assert len(load(runs["baseline"], runs["skyline"])) == 8
    assert len(load(runs["baseline"] / "results.jsonl")) == 4


def test_shards_share_one_run_label_and_the_torn_line_is_ignored(runs):
    df = load(runs["speculative0"].parent)
    assert df.run.unique().tolist() == ["speculative"]
    assert df.run_dir.nunique() == 2
    assert df.id.tolist() == [f"synthetic-0-{i:04d}" for i in range(4)]  # 0004 was torn


def test_repeated_configs_are_told_apart_by_folder_then_number(tmp_path):
    for name in ("a", "b", "c/x", "d/x"):
        write_run(tmp_path / name, config("baseline"), baseline_records())
    assert sorted(load(tmp_path).run.unique()) == [
        "baseline [a]", "baseline [b]", "baseline [x] #1", "baseline [x] #2"]


def test_duplicate_ids_keep_the_first_record_as_resume_and_collect_do_and_warn(tmp_path, caplog):
    records = baseline_records()
    flipped = dict(records[1], correct=not records[1]["correct"])
    write_run(tmp_path, config("baseline"), records + [flipped])
    with caplog.at_level(logging.WARNING):
        df = load(tmp_path)
    assert len(df) == 4
    assert df.set_index("id").correct["synthetic-0-0001"] == records[1]["correct"]
    assert "duplicate" in caplog.text


def test_an_unreadable_middle_line_is_an_error(tmp_path):
    run = write_run(tmp_path, config("baseline"), baseline_records())
    lines = (run / "results.jsonl").read_text().splitlines()
    (run / "results.jsonl").write_text("\n".join(lines[:1] + ["{broken"] + lines[1:]) + "\n")
    with pytest.raises(ValueError, match="line 2"):  # only the last line can be torn: this is damage
        load(run)


def test_events_one_row_per_round_intervention_or_trace_event(tmp_path, runs):
    rounds = load_events(tmp_path, level="rounds")
    assert len(rounds) == 15
    assert {"id", "setting", "run", "run_dir", "round", "correct", "verdict"} <= set(rounds.columns)
    interventions = load_events(tmp_path, level="interventions")
    assert interventions.relative_position.tolist() == [0.05, 0.55, 0.95, 1.0]
    assert (interventions.run == "speculative").all()
    assert len(load_events(tmp_path, level="trace")) == 20


def test_events_of_runs_without_them_are_an_empty_frame(runs):
    rounds = load_events(runs["baseline"], level="rounds")
    assert rounds.empty and "run" in rounds.columns


def test_bad_input_is_a_reasoning_error(tmp_path):
    with pytest.raises(ReasoningError, match="does not exist"):
        load(tmp_path / "missing")
    with pytest.raises(ReasoningError, match="no results.jsonl"):
        load(tmp_path)
    write_run(tmp_path / "r", config("baseline"), baseline_records())
    with pytest.raises(ReasoningError, match="level"):
        load_events(tmp_path, level="steps")


def test_flatten():
    tree = {"a": {"_target_": "x.Y", "_partial_": True, "b": 1, "c": {"d": [1, 2]}}, "e": None}
    assert flatten(tree) == {"a.b": 1, "a.c.d": (1, 2), "e": None}


def test_sharded_baseline_and_skyline_in_one_sweep_keep_their_own_labels(tmp_path):
    """Their flattened configs are equal (same knobs, `_target_` dropped): the setting must tell them apart."""
    for i, setting in enumerate(["baseline", "baseline", "skyline", "skyline"]):
        records = [dict(r, setting=setting) for r in baseline_records()]
        write_run(tmp_path / str(i), config(setting, run__num_shards=2, run__shard=i % 2), records)
    df = load(tmp_path)
    assert sorted(df.run.unique()) == ["baseline", "skyline"]
    assert (df.groupby("run").setting.nunique() == 1).all()


def test_a_run_older_than_a_knob_reads_as_what_it_ran_and_labels_name_only_what_tells_runs_apart(tmp_path):
    """An old feedback run has no refine_format or backend keys (it ran single, on transformers); a new
    one carries vLLM knobs it never used and template hashes: none of that belongs in the label."""
    records = [dict(r, setting="feedback") for r in baseline_records()]
    write_run(tmp_path / "old", config("feedback"), records)
    new = config("feedback", refine_format="chat", backend__name="hf", student__backend="hf",
                 student__vllm={"tensor_parallel_size": 1}, prompts__refine_prompt={"name": "student_refine_chat",
                                                                                    "sha256": "ab" * 32})
    write_run(tmp_path / "new", new, records)
    on_vllm = config("feedback", refine_format="chat", backend__name="vllm", student__backend="vllm",
                     student__vllm={"tensor_parallel_size": 2})
    write_run(tmp_path / "vllm", on_vllm, records)
    df = load(tmp_path)
    assert sorted(df.run.unique()) == ["feedback (backend.name=hf, refine_format=chat)",
                                       "feedback (backend.name=hf, refine_format=single)",
                                       "feedback (backend.name=vllm, refine_format=chat)"]
    assert (df.groupby("run_dir")["backend.name"].first().to_dict()
            == {str(tmp_path / "new"): "hf", str(tmp_path / "old"): "hf", str(tmp_path / "vllm"): "vllm"})


def test_a_speculative_label_names_only_its_own_criterion_knobs(tmp_path):
    """A score run carries the logprob `threshold` it never reads: its label must not name it, while
    the logprob runs' thresholds tell them apart."""
    records = [dict(r, setting="speculative") for r in baseline_records()]
    for name, knobs in {"mean04": dict(criterion="logprob", threshold=-0.4), "mean08": dict(criterion="logprob", threshold=-0.8),
                        "score7": dict(criterion="score", threshold=-0.4, score_threshold=7),
                        "score8": dict(criterion="score", threshold=-0.8, score_threshold=8)}.items():
        write_run(tmp_path / name, config("speculative", **knobs), records)
    assert sorted(load(tmp_path).run.unique()) == [
        "speculative (criterion=logprob, threshold=-0.4)", "speculative (criterion=logprob, threshold=-0.8)",
        "speculative (criterion=score, score_threshold=7)", "speculative (criterion=score, score_threshold=8)"]


def test_a_label_does_not_name_the_dataset_limit(tmp_path):
    """Runs asked for different numbers of problems (a 64-problem frontier point beside the 100-problem
    table): the n column says how many ran; the label names what was run."""
    records = [dict(r, setting="speculative") for r in baseline_records()]
    write_run(tmp_path / "table", config("speculative", criterion="logprob", threshold=-0.8, dataset__limit=100), records)
    write_run(tmp_path / "point", config("speculative", criterion="logprob", threshold=-0.4, dataset__limit=64), records)
    assert sorted(load(tmp_path).run.unique()) == ["speculative (threshold=-0.4)", "speculative (threshold=-0.8)"]
