"""One definition of "the same run": resume, collect and load agree on every case of the table."""
import pytest
from fixtures_results import baseline_records, config, write_run

from reasoning.collect import collect
from reasoning.errors import ReasoningError
from reasoning.results.identity import RESUME, SHARDS, differing, identity
from reasoning.results.load import load

BASE = config("baseline", run__num_shards=2)


def _with(section, key, value):
    cfg = config("baseline", run__num_shards=2)
    cfg[section][key] = value
    return cfg


# (what changes between two shards' configs, one run for collect and load?)
CASES = [
    (("run", "batch_size", 8), True),
    (("run", "progress", True), True),
    (("setting", "max_new_tokens", 64), False),
    (("seed", None, 1), False),
    (("dataset", "limit", 9), False),  # a limit changes the problem list: shards of two runs
    (("student", "dtype", "float32"), False),
]


@pytest.mark.parametrize("change, same", CASES, ids=[c[0][0] + "." + str(c[0][1]) for c in CASES])
def test_collect_and_load_agree_with_the_identity(tmp_path, change, same):
    section, key, value = change
    other = _with(section, key, value) if key else {**config("baseline", run__num_shards=2), section: value}
    shard0 = {**BASE, "run": {**BASE["run"], "shard": 0}}
    shard1 = {**other, "run": {**other["run"], "shard": 1}}
    assert (not differing(shard0, shard1)) is same
    records = baseline_records()
    write_run(tmp_path / "sweep" / "0", shard0, records[:2])
    write_run(tmp_path / "sweep" / "1", shard1, records[2:])
    for d in ("0", "1"):
        (tmp_path / "sweep" / d / "summary.json").write_text("{}")
    assert (load(tmp_path / "sweep").run.nunique() == 1) is same
    if same:
        assert len(collect([tmp_path / "sweep"], tmp_path / "merged")) == 1
    else:
        with pytest.raises(ReasoningError):
            collect([tmp_path / "sweep"], tmp_path / "merged")


def test_resume_allows_a_longer_dataset_and_a_new_batch_size_but_not_another_shard():
    a = config("baseline")
    assert differing(a, {**a, "run": {**a["run"], "batch_size": 16}}, ignore=RESUME) == []
    assert differing(a, {**a, "dataset": {**a["dataset"], "limit": 40}}, ignore=RESUME) == []
    assert differing(a, {**a, "run": {**a["run"], "shard": 1}}, ignore=RESUME) == ["run.shard"]
    assert differing(a, config("skyline"), ignore=RESUME) == ["setting._target_"]


def test_identity_keeps_targets_and_drops_only_the_named_keys():
    ident = identity({"setting": {"_target_": "x.Y", "k": 1}, "run": {"shard": 3, "batch_size": 2, "num_shards": 4},
                      "hydra": {"job": {"name": "z"}}}, SHARDS)
    assert ident == {"setting._target_": "x.Y", "setting.k": 1, "run.num_shards": 4}


def test_prompt_hashes_name_each_template_knob_and_hash_its_text(tmp_path):
    from reasoning.results.identity import prompt_hashes

    mine = tmp_path / "mine.txt"
    mine.write_text("Solve: $question\n")
    hashes = prompt_hashes({"_target_": "reasoning.settings.feedback.Feedback", "answer_prompt": str(mine),
                            "review_prompt": None, "refine_format": "single"})
    assert set(hashes) == {"answer_prompt", "review_prompt", "refine_prompt"}
    assert hashes["review_prompt"]["name"] == "teacher_review"  # null: the built-in the setting would use
    assert hashes["refine_prompt"]["name"] == "student_refine"
    chat = prompt_hashes({"_target_": "reasoning.settings.feedback.Feedback", "refine_format": "chat",
                          "verdict_mode": "score"})
    assert (chat["refine_prompt"]["name"], chat["review_prompt"]["name"]) == ("student_refine_chat",
                                                                              "teacher_review_verdict_first")
    import hashlib
    assert hashes["answer_prompt"]["sha256"] == hashlib.sha256(b"Solve: $question").hexdigest()
    mine.write_text("Solve carefully: $question\n")
    edited = prompt_hashes({"_target_": "reasoning.settings.feedback.Feedback", "answer_prompt": str(mine)})
    assert edited["answer_prompt"]["sha256"] != hashes["answer_prompt"]["sha256"]


def test_changed_prompt_finds_the_edited_knob_and_trusts_runs_without_hashes():
    from reasoning.results.identity import changed_prompt

    saved = {"prompt": {"name": "a", "sha256": "1"}, "judge_prompt": {"name": "b", "sha256": "2"}}
    assert changed_prompt(saved, {"prompt": {"name": "a", "sha256": "1"}, "judge_prompt": {"name": "b", "sha256": "3"}}) \
        == "judge_prompt"
    assert changed_prompt(saved, dict(saved)) is None
    assert changed_prompt({}, {"prompt": {"name": "a", "sha256": "9"}}) is None
