"""Feedback's score mode, knob validation, the attempts it declares, and the runner grading them."""
import pytest

from reasoning.data import Problem
from reasoning.errors import ReasoningError
from reasoning.grading import grade
from reasoning.models.types import Cost
from reasoning.prompts import load_template
from reasoning.run import _to_record
from reasoning.settings.feedback import Feedback
from reasoning.settings.trace import Trace
from tests.scripted import ScriptedModel

PROBLEM = Problem("p1", "What is 2 + 3 * 4?", "14")
WRONG, RIGHT = "2 + 3 = 5\n5 * 4 = 20\n\\boxed{20}", "3 * 4 = 12\n2 + 12 = 14\n\\boxed{14}"


def _student():
    attempts = iter([WRONG, RIGHT, RIGHT])
    return ScriptedModel("student", reply=lambda prompt: next(attempts))


def _scoring_teacher(first_token_logprob):
    """Scripted: the log-prob of the first differing token after "VERDICT: " decides ("A" vs "R")."""
    def logprob(prompt, continuation, i):
        good = "2 + 12 = 14" in prompt
        return first_token_logprob(continuation, good)
    return ScriptedModel("teacher", reply=lambda p: "Multiply first.", logprob=logprob)


def test_score_mode_reads_the_verdict_at_the_verdict_position():
    teacher = _scoring_teacher(lambda cont, good: -0.1 if (cont == "A") == good else -3.0)
    trace, = Feedback(_student(), teacher, max_rounds=3, verdict_mode="score").solve([PROBLEM])
    rounds = trace.extra["rounds"]
    assert [r["verdict"] for r in rounds] == ["revise", "accept"]
    assert rounds[0]["feedback"] == "Multiply first."
    # The prompt asks for the verdict first and the score is taken right after "VERDICT:".
    assert "Start your reply with your verdict" in trace.events[1]["prompt"]
    assert teacher.prompts_seen[0].endswith("VERDICT: REVISE\n")
    assert "log p(ACCEPT) - log p(REVISE) = -2.900" in trace.events[1]["text"]


def test_score_mode_compares_one_token_of_each_word():
    """A scorer that charges every token: the longer word must not lose for its length."""
    seen = []
    teacher = _scoring_teacher(lambda cont, good: (seen.append(cont), -1.0 if cont == "A" else -1.01)[1])
    trace, = Feedback(_student(), teacher, max_rounds=2, verdict_mode="score").solve([PROBLEM])
    assert sorted(set(seen)) == ["A", "R"]  # one token each, after the shared " "
    assert trace.extra["rounds"][0]["verdict"] == "accept"


def test_score_mode_cost_counts_the_shared_forward_pass_once():
    teacher = _scoring_teacher(lambda cont, good: -0.1 if cont == "A" else -3.0)
    trace, = Feedback(_student(), teacher, max_rounds=2, verdict_mode="score").solve([PROBLEM])
    assert trace.cost["teacher"].forward_passes == 1  # two rows of one call: one pass for the problem


def test_cost_total_adds_separate_calls_forward_passes_included():
    total = Cost.total([Cost(10, 2, 3, 1.0, 4, 8), Cost(5, 1, 4, 0.5, 0, 6), Cost(1, 0, 1, 0.0)])
    assert total == Cost(prompt_tokens=16, generated_tokens=3, forward_passes=8, seconds=1.5,
                         cached_tokens=4, computed_tokens=14)
    assert Cost.total([]) == Cost()


@pytest.mark.parametrize("kwargs, message", [
    (dict(verdict_mode="vote"), "setting.verdict_mode=vote is not allowed; use one of generate, score"),
    (dict(max_rounds=0), "setting.max_rounds=0 is not allowed; use a whole number >= 1"),
    (dict(review_max_new_tokens=0), "setting.review_max_new_tokens=0 is not allowed; use a whole number >= 1"),
    (dict(refine_prompt="no_such_prompt"), "setting.refine_prompt=no_such_prompt: "),
])
def test_bad_knobs_are_one_line_reasoning_errors(kwargs, message):
    with pytest.raises(ReasoningError, match=message) as error:
        Feedback(ScriptedModel(), ScriptedModel(), **kwargs)
    assert "\n" not in str(error.value)


def test_verdict_mode_choices_are_annotated_for_validation():
    from typing import Literal, get_type_hints
    hints = get_type_hints(Feedback.__init__)
    assert hints["verdict_mode"] == Literal["generate", "score"]


def test_review_prompt_follows_the_mode_unless_given(tmp_path):
    assert Feedback(ScriptedModel(), ScriptedModel()).prompts["review"] == "teacher_review"
    assert Feedback(ScriptedModel(), ScriptedModel(), verdict_mode="score").prompts["review"] == "teacher_review_verdict_first"
    path = tmp_path / "mine.txt"
    path.write_text("VERDICT: then $question $solution")
    mine = Feedback(ScriptedModel(), ScriptedModel(), verdict_mode="score", review_prompt=str(path))
    assert mine.prompts["review"] == str(path)


def test_default_answer_format_is_boxed_and_switchable():
    assert "put your final answer within \\boxed{}" in load_template("student_answer").template
    assert "within \\boxed{}" in load_template("student_refine").template
    student = ScriptedModel("student", reply=lambda p: "The answer is 14.")
    teacher = ScriptedModel("teacher", reply=lambda p: "VERDICT: ACCEPT")
    Feedback(student, teacher, answer_prompt="student_answer_answer_is").solve([PROBLEM])
    assert '"The answer is" followed by the final number' in student.prompts_seen[0]


def test_generate_mode_without_a_verdict_never_stops_early():
    student = _student()
    teacher = ScriptedModel("teacher", reply=lambda p: "Step 1 is correct but step 2 is wrong.")
    trace, = Feedback(student, teacher, max_rounds=3).solve([PROBLEM])
    assert [r["verdict"] for r in trace.extra["rounds"]] == ["unparseable", "unparseable", None]


# --- the runner grades what the setting declares ------------------------------------------------
def test_the_runner_grades_each_declared_attempt_with_hand_checked_values():
    student = _student()
    teacher = ScriptedModel("teacher", reply=lambda p: "VERDICT: ACCEPT" if "2 + 12" in p else "VERDICT: REVISE\nNo.")
    trace, = Feedback(student, teacher, max_rounds=3).solve([PROBLEM])
    record = _to_record(trace, "feedback", grade)
    rounds = record["rounds"]
    assert [(r["round"], r["answer"], r["correct"], r["strict_correct"]) for r in rounds] == [
        (1, "20", False, False), (2, "14", True, True)]
    assert [r["verdict"] for r in rounds] == ["revise", "accept"]
    assert (record["answer"], record["correct"], record["placeholder"], record["timed_out"]) == ("14", True, False, False)


def test_the_runner_grades_attempts_of_any_setting_without_knowing_its_name():
    trace = Trace(PROBLEM, response="\\boxed{14}")
    trace.attempts = [{"response": "The answer is N.\n7"}, {"response": "#### 14"}, {"response": "so 14"}]
    record = _to_record(trace, "something-new", grade)
    assert [(a["answer"], a["correct"], a["strict_correct"]) for a in trace.attempts] == [
        ("7", False, False), ("14", True, True), ("14", True, False)]
    assert "attempts" not in record  # the setting decides where its attempts appear in the record


def test_a_placeholder_answer_is_recorded():
    trace = Trace(PROBLEM, response="3 * 4 = 12, 2 + 12 = 14.\nThe answer is N.")
    record = _to_record(trace, "baseline", grade)
    assert (record["answer"], record["extraction_rule"], record["placeholder"]) == ("14", "last_number", True)
    assert record["correct"] and not record["strict_correct"]


# --- refine formats: one message or the conversation ---------------------------------------------
def _revise_then_accept():
    return ScriptedModel("teacher",
                         reply=lambda p: "VERDICT: ACCEPT" if "2 + 12" in p else "VERDICT: REVISE\nMultiply first.")


def test_chat_refine_sends_the_attempt_as_the_students_own_turn():
    student, teacher = _student(), _revise_then_accept()
    trace, = Feedback(student, teacher, max_rounds=3, refine_format="chat").solve([PROBLEM])
    ask = load_template("student_answer").substitute(question=PROBLEM.question)
    refine = load_template("student_refine_chat").substitute(feedback="Multiply first.")
    assert student.prompts_seen[1] == f"U:{ask}\nA:{WRONG}\nU:{refine}\nA:"
    assert trace.events[2]["prompt"] == student.prompts_seen[1]  # the exact prompt is in the trace
    assert [r["verdict"] for r in trace.extra["rounds"]] == ["revise", "accept"]


def test_chat_refine_keeps_every_earlier_turn():
    attempts = iter(["first try \\boxed{1}", "second try \\boxed{2}", "third \\boxed{3}"])
    student = ScriptedModel("student", reply=lambda p: next(attempts))
    teacher = ScriptedModel("teacher", reply=lambda p: "VERDICT: REVISE\nNo.")
    Feedback(student, teacher, max_rounds=3, refine_format="chat").solve([PROBLEM])
    third = student.prompts_seen[2]
    assert third.startswith(student.prompts_seen[1])  # round 3 extends round 2's prompt ...
    assert third.count("\nA:") == 3 and "A:first try \\boxed{1}\n" in third and "A:second try \\boxed{2}\n" in third


def test_single_refine_is_one_user_message():
    student, teacher = _student(), _revise_then_accept()
    Feedback(student, teacher, max_rounds=3, refine_format="single").solve([PROBLEM])
    refine = load_template("student_refine").substitute(question=PROBLEM.question, solution=WRONG,
                                                         feedback="Multiply first.")
    assert student.prompts_seen[1] == f"U:{refine}\nA:"


def test_refine_prompt_follows_the_format_and_its_needs_are_checked(tmp_path):
    assert Feedback(ScriptedModel(), ScriptedModel()).prompts["refine"] == "student_refine_chat"  # chat is the default
    assert Feedback(ScriptedModel(), ScriptedModel(), refine_format="single").prompts["refine"] == "student_refine"
    only_feedback = tmp_path / "short.txt"
    only_feedback.write_text("Fix this: $feedback")
    Feedback(ScriptedModel(), ScriptedModel(), refine_format="chat", refine_prompt=str(only_feedback))
    # One message must carry the problem and the solution itself; in a chat they are earlier turns.
    with pytest.raises(ReasoningError, match=r"setting.refine_prompt=.*short.txt does not use \$question, \$solution"):
        Feedback(ScriptedModel(), ScriptedModel(), refine_format="single", refine_prompt=str(only_feedback))
    no_feedback = tmp_path / "none.txt"
    no_feedback.write_text("Try again.")
    with pytest.raises(ReasoningError, match=r"does not use \$feedback"):
        Feedback(ScriptedModel(), ScriptedModel(), refine_format="chat", refine_prompt=str(no_feedback))
    with pytest.raises(ReasoningError, match="setting.refine_format=multi is not allowed; use one of single, chat"):
        Feedback(ScriptedModel(), ScriptedModel(), refine_format="multi")


def test_the_validator_checks_refine_format_and_template_together_before_loading(tmp_path):
    from reasoning.validate import validate
    from tests.conftest import compose
    only_feedback = tmp_path / "short.txt"
    only_feedback.write_text("Fix this: $feedback")
    base = ["setting=feedback", "student=tiny", "teacher=tiny-teacher", f"setting.refine_prompt={only_feedback}"]
    validate(compose(*base, "setting.refine_format=chat"))
    with pytest.raises(ReasoningError, match=r"does not use \$question, \$solution"):
        validate(compose(*base, "setting.refine_format=single"))


def test_chat_turns_through_the_real_chat_template(tiny_student):
    turns = [{"role": "user", "content": "Q?"}, {"role": "assistant", "content": "A1"},
             {"role": "user", "content": "Again."}]
    assert tiny_student.render_chat(turns) == "<|user|>\nQ?\n<|assistant|>\nA1\n<|user|>\nAgain.\n<|assistant|>\n"
    assert tiny_student.render_chat("Q?") == tiny_student.render_chat([{"role": "user", "content": "Q?"}])
    assert tiny_student.encode_chat(turns) == tiny_student.encode(tiny_student.render_chat(turns))
    for bad in ([], [{"role": "user", "content": "Q"}, {"role": "assistant", "content": "A"}],
                [{"role": "robot", "content": "Q"}]):
        with pytest.raises(ReasoningError, match="ending with a user turn") as error:
            tiny_student.render_chat(bad)
        assert "\n" not in str(error.value)


def test_chat_refine_runs_on_tiny_models_and_the_prefix_cache_serves_the_earlier_turns(tiny_student, tiny_teacher,
                                                                                          problems):
    calls = []
    generate = tiny_student.generate

    def recording(prompts, *args, **kwargs):
        out = generate(prompts, *args, **kwargs)
        calls.append((prompts, out))
        return out

    tiny_student.generate = recording
    try:
        traces = Feedback(tiny_student, tiny_teacher, max_rounds=2, refine_format="chat", max_new_tokens=6,
                          review_max_new_tokens=6).solve(problems[:1])
    finally:
        del tiny_student.generate
    trace, = traces
    if len(trace.extra["rounds"]) == 1:
        pytest.skip("the random teacher accepted round 1")
    (first_prompts, first), (second_prompts, second) = calls
    assert trace.events[2]["prompt"].startswith(trace.events[0]["prompt"] + first[0].text)
    assert trace.events[2]["prompt"].count("<|assistant|>") == 2
    # Round 2 re-reads round 1's prompt and reply from the cache (a token at the joint may re-split).
    assert second[0].cost.cached_tokens >= len(first_prompts[0]) - 1


# --- copy rate: what each refinement kept of the previous attempt ---------------------------------
def test_every_refinement_records_whether_it_copied_and_how_much_it_kept():
    attempts = iter([WRONG, WRONG, RIGHT])
    student = ScriptedModel("student", reply=lambda p: next(attempts))
    teacher = ScriptedModel("teacher", reply=lambda p: "VERDICT: REVISE\nNo.")
    trace, = Feedback(student, teacher, max_rounds=3).solve([PROBLEM])
    first, second, third = trace.extra["rounds"]
    assert "identical_to_previous" not in first and "kept" not in first
    assert (second["identical_to_previous"], second["kept"]) == (True, 1.0)
    import difflib
    expected = difflib.SequenceMatcher(None, WRONG, RIGHT, autojunk=False).ratio()
    assert (third["identical_to_previous"], third["kept"]) == (False, round(expected, 3))
    assert 0 < third["kept"] < 1


def test_copy_fields_of_old_records_come_from_the_round_texts():
    from reasoning.settings import copying
    rounds = [{"response": "abcd"}, {"response": "abcd"}, {"response": "abxy"},
              {"response": "zz", "identical_to_previous": True, "kept": 0.5}]  # as recorded wins
    assert copying.refinements(rounds) == [{"identical_to_previous": True, "kept": 1.0},
                                           {"identical_to_previous": False, "kept": 0.5},
                                           {"identical_to_previous": True, "kept": 0.5}]
    nan = float("nan")
    assert copying.refinements([{"response": "a"}, {"response": "b", "identical_to_previous": nan, "kept": nan}]) == [
        {"identical_to_previous": False, "kept": 0.0}]


def test_score_mode_computes_the_review_prompt_once(tiny_teacher):
    """One row per problem: the teacher computes prompt + marker (+ the words' shared prefix) once."""
    from reasoning.prompts import render
    from reasoning.settings.feedback import MARKER, ScoredVerdict, _split_at_first_difference
    prompts = {i: tiny_teacher.encode_chat(render("teacher_review_verdict_first", question=q, solution="5"))
               for i, q in enumerate(["What is 2 + 3?", "What is 1 + 4 + 0?"])}
    shared, _, _ = _split_at_first_difference(tiny_teacher.encode(" ACCEPT"), tiny_teacher.encode(" REVISE"))
    marker = tiny_teacher.encode(MARKER)
    calls = {"score": [], "generate": []}
    for name in calls:
        def spy(*args, _name=name, _real=getattr(tiny_teacher, name), **kwargs):
            out = _real(*args, **kwargs)
            calls[_name].append(out)
            return out
        setattr(tiny_teacher, name, spy)
    if tiny_teacher.cache is not None:
        tiny_teacher.cache.clear()  # nothing of these prompts is cached: every token is computed
    try:
        reviews = ScoredVerdict()(tiny_teacher, prompts, 4)
    finally:
        del tiny_teacher.score, tiny_teacher.generate
    scores, = calls["score"]
    assert len(scores) == len(prompts)  # one row per problem, not one per verdict word
    written = {i: gen for i, gen in zip([i for i in prompts if reviews[i].verdict == "revise"],
                                        calls["generate"][0] if calls["generate"] else [])}
    for i, score in zip(prompts, scores):
        assert score.cost.computed_tokens == len(prompts[i]) + len(marker) + len(shared)
        assert score.cost.forward_passes == 1
        extra = written[i].cost.computed_tokens if i in written else 0
        assert reviews[i].cost.computed_tokens == score.cost.computed_tokens + extra
