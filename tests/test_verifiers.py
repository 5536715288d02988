"""The verifiers one by one (scripted teacher: characters are tokens): what each reads, what it rejects,
what it records, and that the setting's `criterion` choices are exactly the table's."""
import math
import typing

import pytest

from reasoning.errors import ReasoningError
from reasoning.models.types import Scores
from reasoning.settings.speculative import Speculative
from reasoning.settings.verify import (VERIFIERS, ArgmaxVerifier, Draft, JudgeVerifier, LogprobVerifier,
                                       ScoreVerifier, build, split_units)
from tests.scripted import ScriptedModel

STEPS = ["Step 1: 3 * 4 = 12\n", "Step 2: 12 + 3 = 14\n", "The answer is 14."]
QUESTION = "What is 3 * 4 + 3?"


def draft_of(model, text, prefix=""):
    ids = model.encode(text)
    units = split_units(ids, "step", [model.decode([t]) for t in ids], 16)
    return Draft(QUESTION, model.encode_chat(QUESTION) + model.encode(prefix), model.encode(prefix), ids, units)


class Asked(ScriptedModel):
    """Remembers every row it was asked to score."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.rows: list[str] = []

    def score(self, prompts, continuations, next_tokens=()):
        self.rows += [self.decode(p) for p in prompts]
        return super().score(prompts, continuations, next_tokens)


def digits_for(good: dict[str, int]):
    """A teacher that answers digit `good[step]` when asked about a step containing that text, else 9."""
    def logprob(prompt, continuation, i):
        asked = prompt.rsplit("New step:", 1)[-1]
        want = next((str(d) for text, d in good.items() if text in asked), "9")
        return -0.01 if continuation == want else -8.0
    return logprob


def test_the_criterion_choices_are_the_verifier_table():
    choices = typing.get_args(typing.get_type_hints(Speculative.__init__)["criterion"])
    assert set(choices) == set(VERIFIERS)


def test_score_rejects_the_first_step_rated_below_the_threshold_and_asks_one_row_per_step():
    teacher = Asked("teacher", logprob=digits_for({"12 + 3 = 14": 3}))
    student = ScriptedModel("student")
    verifier = ScoreVerifier(teacher, student.decode, "teacher_score", 7, "greedy", "step")
    verdict, = verifier([draft_of(student, "".join(STEPS), prefix="Let us go.\n")])
    assert verdict.unit_scores == [9.0, 3.0] and verdict.rejection.index == 1
    assert (verdict.rejection.start, verdict.rejection.end) == (len(STEPS[0]), len(STEPS[0] + STEPS[1]))
    assert len(teacher.rows) == 2  # asked in order: the step after the rejected one is never asked
    assert verdict.cost.forward_passes == 2  # one call per step asked
    # SpecReason's shape: the solution so far ends before the new step, which is shown apart.
    second = teacher.rows[1]
    assert "Solution so far:\nLet us go.\nStep 1: 3 * 4 = 12\n\nNew step:\nStep 2: 12 + 3 = 14\n" in second
    assert "(nothing yet)" in ScoreVerifier(teacher, student.decode, "teacher_score", 7, "greedy", "step").question(
        draft_of(student, "".join(STEPS)), (0, len(STEPS[0])))


def test_score_accepts_a_step_scored_exactly_at_the_threshold():
    teacher = ScriptedModel("teacher", logprob=digits_for({"Step": 7, "answer": 7}))
    student = ScriptedModel("student")
    verifier = ScoreVerifier(teacher, student.decode, "teacher_score", 7, "greedy", "step")
    verdict, = verifier([draft_of(student, "".join(STEPS))])
    assert verdict.rejection is None and verdict.unit_scores == [7.0, 7.0, 7.0]


def test_expected_score_is_renormalised_over_the_digits():
    teacher = ScriptedModel("teacher")
    verifier = ScoreVerifier(teacher, teacher.decode, "teacher_score", 7, "expected", "step")
    quarter = math.log(0.25)  # half the mass on non-digits: renormalised, 9 and 5 get 0.5 each
    logprobs = {t: (quarter if chr(t) in "95" else -60.0) for t in verifier.digits}
    assert verifier.score(Scores([], [], [], 0, next_logprobs=logprobs)) == pytest.approx(7.0)
    greedy = ScoreVerifier(teacher, teacher.decode, "teacher_score", 7, "greedy", "step")
    logprobs[ord("5")] = math.log(0.3)
    assert greedy.score(Scores([], [], [], 0, next_logprobs=logprobs)) == 5.0


def test_a_tokenizer_without_one_token_per_digit_is_refused():
    class Merged(ScriptedModel):
        def encode(self, text):
            return [ord("#")] if text.isdigit() else super().encode(text)

    with pytest.raises(ReasoningError, match="one token per digit"):
        ScoreVerifier(Merged("merged"), str, "teacher_score", 7, "greedy", "step")


def test_the_judge_sees_the_step_at_the_end_of_the_solution_so_far_and_drafts_keep_their_own_rows():
    teacher = Asked("teacher", logprob=lambda prompt, cont, i: -0.1 if cont == "Y" else -3.0)
    student = ScriptedModel("student")
    drafts = [draft_of(student, "".join(STEPS)), draft_of(student, "a\nb\n")]
    first, second = JudgeVerifier(teacher, student.decode, "teacher_judge", 0.0, "step")(drafts)
    assert len(first.unit_scores) == 3 and len(second.unit_scores) == 2  # no row counted for the other draft
    assert first.rejection is None and first.unit_scores[0] == pytest.approx(2.9)
    # call k asks unit k of each draft still open: rows 0-1 are the first units, row 2 the first draft's second
    assert 'Solution so far:\nStep 1: 3 * 4 = 12\nStep 2: 12 + 3 = 14\n\nIs the last step' in teacher.rows[2]
    assert "Solution so far:\na\n\nIs the last step" in teacher.rows[1]
    assert len(teacher.rows) == 5


def test_units_asked_in_order_let_the_prefix_cache_serve_the_solution_so_far(tiny_teacher):
    """Each row continues the previous call's row up to the new unit, so the teacher computes about the
    unit and the question's tail, not the whole solution so far again for every unit."""
    steps = [f"Step {k}: we add {k} apples to the {k * 3} pears and count {k * 4} fruits.\n" for k in range(1, 9)]
    question = "Unit-order cache check: how many fruits are there after all eight steps?"
    ids = tiny_teacher.encode("".join(steps))
    units = split_units(ids, "step", [tiny_teacher.decode([t]) for t in ids], 16)
    draft = Draft(question, tiny_teacher.encode_chat(question), [], ids, units)
    verdict, = ScoreVerifier(tiny_teacher, tiny_teacher.decode, "teacher_score", 0, "greedy", "step")([draft])
    assert verdict.rejection is None and len(verdict.unit_scores) == len(units) == 8  # threshold 0: all asked
    assert verdict.cost.forward_passes == 8
    assert verdict.cost.cached_tokens > 0.35 * verdict.cost.prompt_tokens, verdict.cost
    assert verdict.cost.computed_tokens + verdict.cost.cached_tokens == verdict.cost.prompt_tokens


def test_likelihood_verifiers_record_whether_the_teacher_agrees_with_each_unit():
    wrong = len(STEPS[0]) + STEPS[1].index("14")
    teacher = ScriptedModel("teacher", logprob=lambda prompt, cont, i: -6.0 if i == wrong else -0.1)
    student = ScriptedModel("student")
    draft = draft_of(student, "".join(STEPS))
    argmax, = ArgmaxVerifier(teacher, "mean")([draft])
    assert argmax.unit_agrees == [True, False] and argmax.rejection.index == 1 and argmax.next_token is None
    logprob, = LogprobVerifier(teacher, -0.8, "mean")([draft])  # the mean hides one bad token
    assert logprob.rejection is None and logprob.unit_agrees == [True, False, True] and logprob.next_token is None
    clean, = ArgmaxVerifier(ScriptedModel("teacher"), "mean")([draft])
    assert clean.rejection is None and clean.next_token is not None  # the free token only for argmax


def test_build_passes_each_verifier_only_its_own_knobs():
    teacher = ScriptedModel("teacher")
    knobs = dict(teacher=teacher, decode=teacher.decode, threshold=-2.0, aggregate="min", judge_threshold=1.0,
                 judge_prompt="teacher_judge", score_prompt="teacher_score", score_threshold=6, score_mode="expected",
                 granularity="step", criterion="score")
    verifier = build(VERIFIERS["logprob"], knobs)
    assert verifier.threshold == -2.0 and verifier.unit_score([1, 3]) == 1
    assert build(VERIFIERS["score"], knobs).threshold == 6 and build(VERIFIERS["judge"], knobs).threshold == 1.0
