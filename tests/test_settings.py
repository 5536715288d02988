"""Each setting's control flow: exact branches with scripted models, the real path on tiny models."""
import pytest

from reasoning.data import Problem
from reasoning.errors import ReasoningError
from reasoning.settings.baseline import Baseline
from reasoning.settings.feedback import Feedback
from reasoning.settings.skyline import Skyline
from reasoning.settings.speculative import Speculative
from tests.scripted import ScriptedModel

PROBLEM = Problem("p1", "What is 2 + 3 * 4?", "14")


# --- feedback ------------------------------------------------------------------------------------
def _feedback_pair(teacher_replies):
    attempts = iter(["2 + 3 = 5\n5 * 4 = 20\nThe answer is 20.", "3 * 4 = 12\n2 + 12 = 14\nThe answer is 14.",
                     "still 14\nThe answer is 14."])
    student = ScriptedModel("student", reply=lambda prompt: next(attempts))
    reviews = iter(teacher_replies)
    teacher = ScriptedModel("teacher", reply=lambda prompt: next(reviews))
    return student, teacher


def test_feedback_accepts_on_round_two_and_passes_feedback_to_the_student():
    student, teacher = _feedback_pair(["REVISE\nMultiplication comes first.", "ACCEPT"])
    trace, = Feedback(student, teacher, max_rounds=3).solve([PROBLEM])
    rounds = trace.extra["rounds"]
    assert [r["verdict"] for r in rounds] == ["revise", "accept"]
    assert rounds[0]["feedback"] == "Multiplication comes first."
    assert trace.response.endswith("The answer is 14.")
    refine_prompt = student.prompts_seen[1]
    assert "Multiplication comes first." in refine_prompt and "5 * 4 = 20" in refine_prompt
    assert [e["event"] for e in trace.events] == ["generate", "review", "generate", "review"]
    assert trace.cost["teacher"].generated_tokens == len("REVISE\nMultiplication comes first.") + 1 + len("ACCEPT") + 1


def test_feedback_stops_at_max_rounds_without_reviewing_the_last_attempt():
    student, teacher = _feedback_pair(["REVISE: no", "REVISE: still no"])
    trace, = Feedback(student, teacher, max_rounds=2).solve([PROBLEM])
    assert [r["verdict"] for r in trace.extra["rounds"]] == ["revise", None]
    assert len(teacher.prompts_seen) == 1


def test_feedback_records_an_unparseable_verdict_and_keeps_going():
    student, teacher = _feedback_pair(["I am not sure what to say.", "ACCEPT"])
    trace, = Feedback(student, teacher, max_rounds=3).solve([PROBLEM])
    first = trace.extra["rounds"][0]
    assert first["verdict"] == "unparseable" and first["feedback"] == "I am not sure what to say."
    assert trace.extra["rounds"][1]["verdict"] == "accept"


def test_feedback_batches_problems_that_finish_in_different_rounds():
    other = Problem("p2", "What is 1 + 1?", "2")
    student = ScriptedModel("student", reply=lambda p: "The answer is 2." if "1 + 1" in p else "The answer is 20.")
    teacher = ScriptedModel("teacher", reply=lambda p: "ACCEPT" if "1 + 1" in p else "REVISE bad")
    traces = Feedback(student, teacher, max_rounds=3).solve([PROBLEM, other])
    assert [len(t.extra["rounds"]) for t in traces] == [3, 1]


# --- speculative ---------------------------------------------------------------------------------
STEPS = ["Step 1: 3 * 4 = 12\n", "Step 2: 12 + 2 = 14\n", "Step 3: so 14 + 1 = 15\n", "The answer is 15."]


def test_speculative_rejects_step_three_and_the_student_continues_after_the_correction():
    drafts = iter(["".join(STEPS), "The answer is 14."])
    student = ScriptedModel("student", reply=lambda prompt: next(drafts))
    # The teacher dislikes every token of step 3 (and nothing else).
    def logprob(prompt, continuation, i):
        start = continuation.find("Step 3")
        return -5.0 if start >= 0 and start <= i < start + len(STEPS[2]) else -0.2
    teacher = ScriptedModel("teacher", reply=lambda prompt: "Step 3: so the total is 14.\n", logprob=logprob)
    trace, = Speculative(student, teacher, granularity="step", criterion="logprob", threshold=-2.0,
                         draft_tokens="rest").solve([PROBLEM])
    intervention, = trace.extra["interventions"]
    assert intervention["rejected"] == STEPS[2] and intervention["correction"] == "Step 3: so the total is 14.\n"
    assert intervention["position"] == len(STEPS[0] + STEPS[1]) and intervention["score"] == pytest.approx(-5.0)
    assert trace.response == STEPS[0] + STEPS[1] + "Step 3: so the total is 14.\nThe answer is 14."
    assert student.prompts_seen[1].endswith(STEPS[0] + STEPS[1] + "Step 3: so the total is 14.\n")
    assert [e["event"] for e in trace.events] == ["prompt", "draft", "verify", "correct", "draft", "verify"]


def test_speculative_stops_checking_after_max_interventions():
    student = ScriptedModel("student", reply=lambda prompt: "x\ny\n")
    teacher = ScriptedModel("teacher", reply=lambda prompt: "z\n", logprob=lambda p, c, i: -9.0)
    trace, = Speculative(student, teacher, granularity="step", criterion="logprob", threshold=-2.0,
                         max_interventions=2, max_new_tokens=100, draft_tokens="rest").solve([PROBLEM])
    assert len(trace.extra["interventions"]) == 2
    assert trace.response == "z\nz\nx\ny\n"  # two corrections, then the student's unchecked draft


def test_speculative_judge_asks_the_teacher_about_each_step():
    student = ScriptedModel("student", reply=lambda prompt: "".join(STEPS) if "Step 3: fixed" not in prompt else "done")
    def logprob(prompt, continuation, i):  # "No" is likely only when asked about step 3
        asked_step3 = '("Step 3: so 14 + 1 = 15")' in prompt
        return -0.1 if continuation.startswith("N") == asked_step3 else -4.0  # "N": the first token of "No"
    teacher = ScriptedModel("teacher", reply=lambda prompt: "Step 3: fixed\n", logprob=logprob)
    trace, = Speculative(student, teacher, granularity="step", criterion="judge",
                         draft_tokens="rest").solve([PROBLEM])
    assert trace.extra["interventions"][0]["rejected"] == STEPS[2]
    assert trace.response == STEPS[0] + STEPS[1] + "Step 3: fixed\ndone"


@pytest.mark.parametrize("kwargs, message", [
    (dict(granularity="word"), "granularity=word"), (dict(criterion="vibes"), "criterion=vibes"),
    (dict(granularity="token", criterion="judge"), "criterion=judge"),
])
def test_speculative_rejects_bad_knobs(kwargs, message):
    with pytest.raises(ReasoningError, match=message):
        Speculative(ScriptedModel(), ScriptedModel(), **kwargs)


# --- the same settings on real (tiny) transformers models ---------------------------------------
def test_token_argmax_speculative_is_lossless(tiny_student, tiny_teacher, problems):
    """Greedy + token + argmax: the final text is exactly the teacher's own greedy text."""
    spec = Speculative(tiny_student, tiny_teacher, granularity="token", criterion="argmax",
                       max_interventions=10_000, max_new_tokens=12)
    sky = Skyline(tiny_teacher, max_new_tokens=12)
    batch = problems[:3]
    for got, want in zip(spec.solve(batch), sky.solve(batch)):
        assert got.response == want.response
        assert got.extra["response_tokens"] == 12
    single, = spec.solve(batch[:1])  # batch size does not matter
    assert single.response == sky.solve(batch[:1])[0].response


def test_speculative_with_the_student_as_its_own_teacher_never_intervenes(tiny_student, problems):
    spec = Speculative(tiny_student, tiny_student, granularity="token", criterion="argmax", max_new_tokens=12)
    traces = spec.solve(problems[:2])
    assert all(t.extra["interventions"] == [] for t in traces)
    assert [t.response for t in traces] == [t.response for t in Baseline(tiny_student, max_new_tokens=12).solve(problems[:2])]


@pytest.mark.parametrize("granularity, criterion", [("step", "logprob"), ("chunk", "logprob"), ("chunk", "judge")])
def test_speculative_runs_on_tiny_models(tiny_student, tiny_teacher, problems, granularity, criterion):
    spec = Speculative(tiny_student, tiny_teacher, granularity=granularity, criterion=criterion,
                       chunk_tokens=4, max_interventions=2, max_new_tokens=12, threshold=0.0)
    for trace in spec.solve(problems[:2]):
        assert trace.extra["response_tokens"] <= 12
        assert len(trace.extra["interventions"]) <= 2
        assert trace.cost["teacher"].forward_passes >= 1


@pytest.mark.parametrize("mode", ["generate", "score"])
def test_feedback_runs_on_tiny_models(tiny_student, tiny_teacher, problems, mode):
    traces = Feedback(tiny_student, tiny_teacher, max_rounds=2, verdict_mode=mode, max_new_tokens=8,
                      review_max_new_tokens=8).solve(problems[:2])
    for trace in traces:
        assert 1 <= len(trace.extra["rounds"]) <= 2
        assert trace.cost["student"].generated_tokens > 0 and trace.cost["teacher"].forward_passes > 0


def test_speculative_refuses_models_with_different_tokenizers(tiny_student):
    with pytest.raises(ReasoningError, match="one tokenizer"):
        Speculative(tiny_student, ScriptedModel("other"))
