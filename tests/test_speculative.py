"""Speculative correction on real tiny models and scripted ones: lossless by construction, budgets that
do not cut responses short, draft-length control, honest teacher cost, issue-9 criterion details."""
import pytest
import torch

from reasoning import progress
from reasoning.data.problem import Problem
from reasoning.errors import ReasoningError
from reasoning.models.hf import HFModel
from reasoning.models.loaders import load_tiny
from reasoning.settings.skyline import Skyline
from reasoning.settings.speculative import DraftLength, Speculative
from tests.scripted import ScriptedModel

PROBLEM = Problem("p1", "What is 3 * 4 + 3?", "15")


def skyline_texts(teacher, problems, n):
    return [t.response for t in Skyline(teacher, max_new_tokens=n).solve(problems)]


@pytest.fixture(scope="module")
def near_tie_teacher():
    """The tiny teacher with its output layer shrunk 50x: top tokens are nearly tied everywhere, so any
    numeric difference between the verification pass and the teacher's own decoding shows up."""
    model = load_tiny("tiny-teacher", role="teacher")
    with torch.no_grad():
        model.model.get_output_embeddings().weight.mul_(0.02)
    return model


@pytest.mark.parametrize("prefix_cache", [True, False])
def test_token_argmax_with_default_knobs_equals_the_teachers_greedy_text_at_near_ties(
        tiny_student, near_tie_teacher, problems, prefix_cache):
    teacher = HFModel("tiny-teacher", near_tie_teacher.model, near_tie_teacher.tokenizer, prefix_cache=prefix_cache)
    student = HFModel("tiny", tiny_student.model, tiny_student.tokenizer, prefix_cache=prefix_cache)
    spec = Speculative(student, teacher, granularity="token", criterion="argmax", max_new_tokens=24)
    want = skyline_texts(teacher, problems[:4], 24)
    batched = spec.solve(problems[:4])
    assert [t.response for t in batched] == want
    assert any(t.extra["interventions"] for t in batched)  # the student really was corrected
    assert not any(t.extra["hit_intervention_limit"] for t in batched)
    assert [spec.solve([p])[0].response for p in problems[:2]] == want[:2]  # batch 1 too


def test_a_checkpoints_repetition_penalty_does_not_break_losslessness(tiny_student, problems):
    loaded = load_tiny("tiny-teacher", role="teacher")
    loaded.model.generation_config.repetition_penalty = 1.1  # as many hub checkpoints ship
    teacher = HFModel("tiny-teacher", loaded.model, loaded.tokenizer)
    assert teacher.decoding["repetition_penalty"] == 1.0  # the run's knobs decide, not the checkpoint
    spec = Speculative(tiny_student, teacher, granularity="token", criterion="argmax", max_new_tokens=16)
    assert [t.response for t in spec.solve(problems[:6])] == skyline_texts(teacher, problems[:6], 16)


def test_a_repetition_penalty_the_user_asks_for_applies_and_is_refused_for_argmax(tiny_student, tiny_teacher):
    penalised = HFModel("tiny-teacher", tiny_teacher.model, tiny_teacher.tokenizer, repetition_penalty=5.0)
    prompt = tiny_teacher.encode_chat("Ann has 3 apples")
    assert penalised.generate([prompt], 32)[0].ids != tiny_teacher.generate([prompt], 32)[0].ids
    with pytest.raises(ReasoningError, match="repetition_penalty=5.0"):
        Speculative(tiny_student, penalised, granularity="token", criterion="argmax")
    Speculative(tiny_student, penalised, granularity="step", criterion="logprob")  # no lossless claim there


def test_after_max_interventions_the_student_writes_on_unchecked(tiny_student, tiny_teacher, problems):
    spec = Speculative(tiny_student, tiny_teacher, granularity="token", criterion="argmax", draft_tokens=4,
                       max_interventions=1, max_new_tokens=40)
    for trace in spec.solve(problems[:3]):
        assert trace.extra["hit_intervention_limit"] and len(trace.extra["interventions"]) == 1
        last = trace.events[-1]
        assert last["event"] == "draft" and not last["checked"]
        # It ran to the response budget or to eos, never to a draft-sized budget.
        assert trace.extra["response_tokens"] == 40 or last["finish_reason"] == "eos"
        assert last["tokens"] > 4


def test_a_fully_accepted_draft_takes_the_teachers_free_next_token(tiny_teacher, problems):
    spec = Speculative(tiny_teacher, tiny_teacher, granularity="token", criterion="argmax", max_new_tokens=30,
                       draft_tokens=8)
    trace, = spec.solve(problems[:1])
    assert trace.extra["interventions"] == []
    free = [e for e in trace.events if e["event"] == "next_token"]
    drafts = [e for e in trace.events if e["event"] == "draft"]
    assert len(free) >= 2 and sum(d["tokens"] for d in drafts) + len(free) == trace.extra["response_tokens"]
    assert trace.response == skyline_texts(tiny_teacher, problems[:1], 30)[0]


def test_with_the_prefix_cache_the_teacher_computes_about_what_the_skyline_does(tiny_teacher, problems):
    """A student that always agrees: verification must read each token about once, not once per round."""
    spec = Speculative(tiny_teacher, tiny_teacher, granularity="token", criterion="argmax", max_new_tokens=48,
                       draft_tokens=4)
    sky = Skyline(tiny_teacher, max_new_tokens=48).solve(problems[:3])
    for got, want in zip(spec.solve(problems[:3]), sky):
        verify_rounds = sum(e["event"] == "verify" for e in got.events)
        assert verify_rounds >= got.extra["response_tokens"] // 5 >= 2  # a round adds at most 4 + 1 free token
        assert got.cost["teacher"].computed_tokens <= 1.3 * want.cost["teacher"].computed_tokens
        assert got.cost["teacher"].cached_tokens > 0


def test_progress_reports_every_round_with_model_speeds(tiny_student, tiny_teacher, problems):
    lines = []
    with progress.listen(lines.append):
        Speculative(tiny_student, tiny_teacher, granularity="token", criterion="argmax", max_new_tokens=12,
                    draft_tokens=4).solve(problems[:2])
    assert len(lines) >= 3 and lines[0].startswith("speculative round 1: ")
    assert "/2 problems active" in lines[0] and "tiny-teacher" in lines[0] and "tok/s" in lines[0]
    assert lines[-1].startswith(f"speculative round {len(lines)}: 0/2 problems active")


def test_draft_length_policies():
    assert DraftLength("rest").first() is None
    assert DraftLength("auto", "token").first() == 8 and DraftLength("auto", "step").first() is None
    fixed = DraftLength(8)
    assert fixed.first() == 8 and fixed.after(8, True) == 8 and fixed.after(8, False) == 8
    adaptive = DraftLength("adaptive")
    assert adaptive.first() == 8 and adaptive.after(16, True) == 32 and adaptive.after(16, False) == 8
    assert adaptive.after(4, False) == 4 and adaptive.after(256, True) == 256
    for bad in (0, -3, "forever"):
        with pytest.raises(ReasoningError, match="setting.draft_tokens"):
            DraftLength(bad)


# --- criterion details (scripted: characters are tokens) -----------------------------------------
STEPS = ["Step 1: 3 * 4 = 12\n", "Step 2: 12 + 3 = 14\n", "The answer is 14."]


def step_scorer(bad_char_at: int):
    """The teacher likes every token but one: a single wrong digit inside step 2."""
    def logprob(prompt, continuation, i):
        return -6.0 if i == bad_char_at else -0.1
    return logprob


@pytest.mark.parametrize("aggregate, rejected", [("mean", 0), ("min", 1)])
def test_min_aggregate_catches_one_wrong_token_that_the_mean_averages_away(aggregate, rejected):
    at = len(STEPS[0]) + STEPS[1].index("14")
    student = ScriptedModel("student", reply=lambda prompt: "".join(STEPS))
    teacher = ScriptedModel("teacher", reply=lambda prompt: "Step 2: 12 + 3 = 15\n", logprob=step_scorer(at))
    trace, = Speculative(student, teacher, granularity="step", criterion="logprob", threshold=-0.8,
                         aggregate=aggregate, draft_tokens="rest", max_interventions=1).solve([PROBLEM])
    assert len(trace.extra["interventions"]) == rejected


def test_a_correction_equal_to_the_rejected_step_is_not_an_intervention():
    student = ScriptedModel("student", reply=lambda prompt: "".join(STEPS))
    teacher = ScriptedModel("teacher", reply=lambda prompt: STEPS[1], logprob=step_scorer(len(STEPS[0]) + 3))
    trace, = Speculative(student, teacher, granularity="step", criterion="logprob", aggregate="min",
                         draft_tokens="rest", max_interventions=3).solve([PROBLEM])
    assert trace.extra["interventions"] == []
    assert any(e["event"] == "confirm" for e in trace.events)
    assert trace.response.startswith(STEPS[0] + STEPS[1])


def test_the_judge_reads_yes_and_no_from_one_row_per_unit():
    class Counting(ScriptedModel):
        rows: list[str] = []

        def score(self, prompts, continuations, next_tokens=()):
            Counting.rows += [self.decode(p) for p in prompts]
            return super().score(prompts, continuations, next_tokens)

    student = ScriptedModel("student", reply=lambda prompt: "".join(STEPS))
    teacher = Counting("teacher", logprob=lambda prompt, cont, i: -0.1 if cont == "Y" else -3.0)
    trace, = Speculative(student, teacher, granularity="chunk", criterion="judge", chunk_tokens=10,
                         draft_tokens="rest").solve([PROBLEM])
    units = trace.events[2]["units"]
    assert len(Counting.rows) == units and trace.extra["interventions"] == []
    assert all("Is the last part of the solution so far" in row for row in Counting.rows)  # chunks are not "steps"


def test_a_pair_with_different_chat_templates_is_refused(tiny_student):
    class OtherTemplate(ScriptedModel):
        def encode(self, text):
            return tiny_student.encode(text)

    with pytest.raises(ReasoningError, match="one tokenizer, chat template and eos"):
        Speculative(tiny_student, OtherTemplate("other"))


def test_feedback_reports_its_rounds_too(tiny_student, tiny_teacher, problems):
    from reasoning.settings.feedback import Feedback

    lines = []
    with progress.listen(lines.append):
        Feedback(tiny_student, tiny_teacher, max_rounds=2, max_new_tokens=6, review_max_new_tokens=6).solve(problems[:2])
    assert lines[0].startswith("feedback round 1: ") and "/2 problems active" in lines[0]
    assert lines[-1].startswith("feedback round") and " 0/2 problems active" in lines[-1]


# --- issue 16: bugs, knob rules, score criterion, step delimiter ------------------------------------
def test_a_token_the_teacher_doubts_but_would_write_itself_is_confirmed_not_an_intervention(tiny_teacher, problems):
    """The teacher as its own student: every drafted token is its greedy token, so a low log-prob
    rejection is always corrected to the same token: a confirm, never an intervention (bug 1)."""
    spec = Speculative(tiny_teacher, tiny_teacher, granularity="token", criterion="logprob", threshold=-0.8,
                       max_new_tokens=16)
    traces = spec.solve(problems[:2])
    assert all(t.extra["interventions"] == [] for t in traces)
    assert all(any(e["event"] == "confirm" for e in t.events) for t in traces)  # rejections did happen
    assert [t.response for t in traces] == skyline_texts(tiny_teacher, problems[:2], 16)


@pytest.mark.parametrize("limit", [0, 1])
def test_max_interventions_is_the_most_corrections_a_problem_gets(tiny_student, tiny_teacher, problems, limit):
    """0: the student is never corrected (bug 2: it used to get one); 1: exactly one."""
    spec = Speculative(tiny_student, tiny_teacher, granularity="token", criterion="argmax", draft_tokens=4,
                       max_interventions=limit, max_new_tokens=24)
    for trace in spec.solve(problems[:3]):
        assert len(trace.extra["interventions"]) == limit and trace.extra["hit_intervention_limit"]
    if limit == 0:
        alone = Speculative(tiny_student, tiny_teacher, granularity="token", criterion="argmax", max_interventions=0,
                            max_new_tokens=24).solve(problems[:2])
        from reasoning.settings.baseline import Baseline
        baseline = Baseline(tiny_student, max_new_tokens=24).solve(problems[:2])
        assert [t.response for t in alone] == [t.response for t in baseline]
        assert all("teacher" not in t.cost and not any(e["event"] == "verify" for e in t.events) for t in alone)


@pytest.mark.parametrize("knobs, message", [
    (dict(criterion="judge", granularity="token"), "setting.criterion=judge .*use setting.granularity=step or chunk"),
    (dict(criterion="score", granularity="token"), "setting.criterion=score .*use setting.granularity=step or chunk"),
    (dict(criterion="logprob", threshold=0.5), r"setting.threshold=0.5 .*never above 0.*setting.threshold=-0.5"),
    (dict(criterion="score", score_threshold=12), "setting.score_threshold=12 .*<= 9"),
    (dict(criterion="score", score_threshold=-1), "setting.score_threshold=-1 .*>= 0"),
    (dict(step_delimiter=""), "setting.step_delimiter is empty"),
    (dict(criterion="score", score_mode="mean"), "setting.score_mode=mean"),
    (dict(score_prompt="teacher_judge"), None),  # the judge's template has every field a score prompt needs
])
def test_contradicting_knobs_are_refused_in_one_line_before_anything_loads(knobs, message):
    from reasoning.validate import check_arguments

    if message is None:
        check_arguments(Speculative, "setting", knobs)
        return
    with pytest.raises(ReasoningError, match=message) as refused:
        check_arguments(Speculative, "setting", knobs)
    assert "\n" not in str(refused.value)


@pytest.mark.parametrize("knobs", [
    dict(granularity="step", chunk_tokens=4),  # chunk_tokens unused at step granularity: harmless
    dict(criterion="argmax", threshold=0.5),  # the threshold is not read by argmax
    dict(criterion="logprob", threshold=0.0, granularity="token"),
    dict(granularity="token", step_delimiter=""),
    dict(criterion="score", score_threshold=0, score_mode="expected"),
])
def test_harmless_knob_combinations_pass(knobs):
    from reasoning.validate import check_arguments

    check_arguments(Speculative, "setting", knobs)


def test_the_cli_refuses_judge_on_tokens_before_loading_a_model(tmp_path):
    import os
    import subprocess
    import sys

    from tests.conftest import ROOT

    run_dir = tmp_path / "run"
    done = subprocess.run([sys.executable, "-m", "reasoning", "setting=speculative", "setting.criterion=judge",
                           "setting.granularity=token", "student=tiny", "teacher=tiny-teacher",
                           f"hydra.run.dir={run_dir}"], cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "HF_HUB_OFFLINE": "1"})
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode == 2 and len(lines) == 1, done.stderr
    assert "setting.criterion=judge" in lines[0] and "granularity=step" in lines[0]
    assert not (run_dir / "results.jsonl").exists() and not (run_dir / "config.yaml").exists()


def test_criterion_score_runs_on_tiny_models_and_records_scores_on_the_digit_scale(tiny_student, tiny_teacher,
                                                                                   problems):
    for mode in ("greedy", "expected"):
        spec = Speculative(tiny_student, tiny_teacher, granularity="chunk", criterion="score", score_mode=mode,
                           chunk_tokens=4, max_interventions=2, max_new_tokens=12)
        for trace in spec.solve(problems[:2]):
            scores = [x for e in trace.events if e["event"] == "verify" for x in e["unit_scores"]]
            assert scores and all(0 <= x <= 9 for x in scores)
            assert mode == "expected" or all(float(x).is_integer() for x in scores)
            assert trace.cost["teacher"].forward_passes >= 1 and len(trace.extra["interventions"]) <= 2


DELIMITED = ["Step 1: 3 * 4 = 12\nso twelve\n\n", "Step 2: 12 + 3 = 14\n\n", "The answer is 14."]


def test_blank_line_steps_keep_single_newlines_inside_and_the_correction_stops_at_a_blank_line():
    student = ScriptedModel("student", reply=lambda prompt: "".join(DELIMITED) if "fixed" not in prompt else "done")
    at = len(DELIMITED[0]) + DELIMITED[1].index("14")
    teacher = ScriptedModel("teacher", reply=lambda prompt: "Step 2: 12 + 3 = 15\nfixed\n\nnot this",
                            logprob=step_scorer(at))
    trace, = Speculative(student, teacher, granularity="step", criterion="logprob", aggregate="min",
                         step_delimiter="\\n\\n", draft_tokens="rest").solve([PROBLEM])  # as typed on a command line
    first = next(e for e in trace.events if e["event"] == "verify")
    assert first["units"] == 3 and first["rejected_unit"] == 1
    intervention, = trace.extra["interventions"]
    assert intervention["rejected"] == DELIMITED[1]
    assert intervention["correction"] == "Step 2: 12 + 3 = 15\nfixed\n\n"
    assert trace.response == DELIMITED[0] + "Step 2: 12 + 3 = 15\nfixed\n\ndone"


def test_judge_verify_events_say_where_each_checked_unit_lies_in_the_text():
    """What calibrate_threshold.py needs to label judge/score units from a token/argmax run's text."""
    student = ScriptedModel("student", reply=lambda prompt: "done\nok" if "fixed" in prompt else "".join(STEPS))
    asked_step2 = lambda prompt: '("Step 2: 12 + 3 = 14")' in prompt  # noqa: E731
    teacher = ScriptedModel("teacher", reply=lambda prompt: "Step 2: fixed\n",
                            logprob=lambda prompt, cont, i: -0.1 if cont.startswith("N") == asked_step2(prompt) else -4.0)
    trace, = Speculative(student, teacher, granularity="step", criterion="judge", draft_tokens="rest").solve([PROBLEM])
    first, second = [e for e in trace.events if e["event"] == "verify"]
    assert first["solution_chars"] == 0 and first["unit_ends"] == [len(STEPS[0]), len(STEPS[0] + STEPS[1])]
    assert "unit_agrees" not in first and first["rejected_unit"] == 1
    assert second["solution_chars"] == len(STEPS[0] + "Step 2: fixed\n") and second["unit_ends"] == [5, 7]
    assert trace.response[: second["solution_chars"]] + "done\nok" == trace.response
