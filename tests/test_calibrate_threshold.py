"""benchmarks/calibrate_threshold.py on tiny run folders, and its arithmetic by hand."""

import pytest

from reasoning.run import run
from tests.conftest import benchmark_script, compose

calibrate = benchmark_script("calibrate_threshold")

FAST = ["setting=speculative", "student=tiny", "teacher=tiny-teacher", "setting.max_new_tokens=12",
        "dataset.limit=3", "run.progress=false"]


def test_auc_quantiles_and_thresholds_by_hand():
    assert calibrate.auc([2.0, 3.0], [1.0]) == 1.0 and calibrate.auc([1.0], [2.0]) == 0.0
    assert calibrate.auc([1.0, 3.0], [1.0]) == 0.75 and calibrate.auc([1.0], []) is None
    scores = [-3.0, -2.0, -1.0, -0.5, -0.1, -0.05, -0.04, -0.03, -0.02, -0.01]
    t = calibrate.threshold_for(scores, 0.2)
    assert t == -1.0 and sum(s < t for s in scores) == 2  # 20% rejected
    assert calibrate.quantile(scores, 0.5) == -0.05


def test_a_judge_unit_is_labelled_by_whether_the_teachers_greedy_text_continues_with_it():
    assert calibrate.label_from_reference("Step 1: 2\n", "Step 2: 4\n", "Step 1: 2\nStep 2: 4\nDone") is True
    assert calibrate.label_from_reference("Step 1: 2\n", "Step 2: 5\n", "Step 1: 2\nStep 2: 4\nDone") is False
    assert calibrate.label_from_reference("Step 1: 3\n", "Step 2: 4\n", "Step 1: 2\nStep 2: 4\nDone") is None
    events = [{"event": "draft", "text": "ab\ncd\n"},
              {"event": "verify", "unit_scores": [0.5, -2.0], "solution_chars": 2, "unit_ends": [3, 6]}]
    units = calibrate.units_of_problem(events, "X\nab\nZZ\n", reference="X\nab\ncx\n")
    assert [(u.score, u.agrees) for u in units] == [(0.5, True), (-2.0, False)]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("calibrate")
    run(compose(*FAST, "setting.granularity=chunk", "setting.chunk_tokens=3", "setting.threshold=-6"), root / "logprob")
    run(compose(*FAST, "setting.granularity=chunk", "setting.chunk_tokens=3", "setting.criterion=score",
                "setting.score_mode=expected"), root / "score")
    run(compose(*FAST, "setting.granularity=token", "setting.criterion=argmax"), root / "token")
    return root


def test_calibration_labels_logprob_units_from_their_own_record_and_score_units_from_the_reference(runs):
    text = calibrate.calibrate([runs])
    assert text.startswith("labels for judge/score units from: a token/argmax run")
    blocks = {block.split(" (")[0]: block for block in text.split("\n\n")[1:]}
    assert len(blocks) == 2  # the reference itself is not calibrated
    for block in blocks.values():
        head = block.splitlines()[0]
        scored = int(head.split(": ")[1].split(" units")[0])
        labelled = int(head.split("scored, ")[1].split(" labelled")[0])
        assert scored > 0 and 0 < labelled <= scored
        assert "AUC" in block and "target reject rate" in block
    score_block = next(b for b in blocks.values() if "criterion=score" in b)
    assert "criterion=score, granularity=chunk" in score_block
    logprob_head = next(b for b in blocks.values() if "criterion=logprob" in b).splitlines()[0]
    assert "score_mode" not in logprob_head and "score_mode=" in score_block.splitlines()[0]  # own knobs only
    alone = calibrate.calibrate([runs / "score"])  # no reference: nothing to label score units with
    assert "none found" in alone and " 0 labelled" in alone
