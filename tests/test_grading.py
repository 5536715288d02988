"""Grading: labelled cases, extraction rules, strict vs lenient, and the off-main-thread timeout."""

import json
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from hydra.utils import instantiate
from omegaconf import OmegaConf

from reasoning.grading import Grade, extract_answer, grade, is_equivalent, worker
from reasoning.grading.cases import CASES
from tests.conftest import benchmark_script

CONFIG = Path(__file__).resolve().parents[1] / "conf" / "grader" / "default.yaml"
# 9^(9^(9^9)): sympy grinds on the tower forever; only a killed process stops it.
PATHOLOGICAL = r"9^{9^{9^{9}}}"


@pytest.mark.parametrize("case", CASES, ids=[f"{i}-{c.category}" for i, c in enumerate(CASES)])
def test_labelled_case(case):
    result = grade(case.response, case.gold)
    assert result.correct is case.correct, result
    assert not result.timed_out


@pytest.mark.parametrize(
    ("response", "text", "rule"),
    [
        (r"so $\boxed{\frac{a}{\sqrt{b}}}$ and more", r"\frac{a}{\sqrt{b}}", "boxed"),
        (r"\boxed{1} then \fbox{2}", "2", "boxed"),
        (r"\boxed{\{1, 2\}}", r"\{1, 2\}", "boxed"),
        (r"\boxed 7 is it", "7", "boxed"),
        ("12 + 6 = 18\n#### 18", "18", "hash"),
        ("The answer is 42. Then 7 more words.", "42", "answer_is"),
        ("THE FINAL ANSWER IS: $3.5$.", "3.5", "answer_is"),
        ("Final answer: 1,000", "1,000", "answer_is"),
        ("he has 3 apples and 1,250 pears", "1,250", "last_number"),
        ("it is -0.75 now", "-0.75", "last_number"),
        ("a ratio of 3/4", "3/4", "last_number"),
        ("no digits here", None, None),
        (r"truncated \boxed{\frac{1}{2", "2", "last_number"),  # an unclosed box is no answer marker
    ],
)
def test_extraction_rule(response, text, rule):
    assert extract_answer(response) == (text, rule)


def test_strict_needs_an_answer_marker():
    lenient_only = grade("So she has 20 cookies left.", "20")
    assert (lenient_only.correct, lenient_only.strict_correct) == (True, False)
    assert lenient_only.rule == "last_number"
    marked = grade("So she has 20 cookies left.\n#### 20", "20")
    assert (marked.correct, marked.strict_correct, marked.rule) == (True, True, "hash")
    # A wrong marked answer is not rescued by a right number elsewhere.
    wrong = grade("20 cookies in all. The answer is 19.", "20")
    assert (wrong.correct, wrong.strict_correct, wrong.extracted) == (False, False, "19")


@pytest.mark.parametrize(("response", "answer", "rule"), [
    ("12 + 6 = 18 eggs a day.\nThe answer is N.", "18", "last_number"),  # the bundled teacher's real slip
    ("So she pays $5 in all.\nThe answer is X", "5", "last_number"),
    (r"3 * 4 = 12, so \boxed{<answer>}. The answer is 12.", "12", "answer_is"),  # the next rule takes over
    (r"\boxed{...}", None, None),
    ("#### [number]\n7 left", "7", "last_number"),
    ("Final answer: your answer here", None, None),
])
def test_a_placeholder_is_never_an_answer(response, answer, rule):
    result = grade(response, "18")
    assert (result.extracted, result.rule, result.placeholder) == (answer, rule, True)
    assert not result.strict_correct


@pytest.mark.parametrize("response", [r"\boxed{C}", r"\boxed{x}", r"\boxed{[1, 2]}", "The answer is 0."])
def test_single_letters_and_intervals_are_answers_not_placeholders(response):
    result = grade(response, "0")
    assert result.rule in ("boxed", "answer_is") and not result.placeholder


def test_placeholder_reaches_the_record():
    assert grade("18\nThe answer is N.", "18").to_dict()["placeholder"] is True


def test_no_answer_found():
    assert grade("I cannot solve this.", "18") == Grade(False, False, None, None, False)


def test_grade_record_is_json():
    record = grade(r"\boxed{\dfrac12}", "0.5").to_dict()
    assert json.loads(json.dumps(record)) == {
        "correct": True,
        "strict_correct": True,
        "extracted": r"\dfrac12",
        "rule": "boxed",
        "timed_out": False,
        "placeholder": False,
    }


def test_is_equivalent_direct():
    assert is_equivalent("1,000", "1000")
    assert is_equivalent(r"\frac{1}{2}", "0.5")
    assert not is_equivalent("[0, 1)", "[0, 1]")
    assert not is_equivalent("", "0")


def test_plain_answers_never_start_the_helper(monkeypatch):
    def forbidden(*args, **kwargs):
        raise AssertionError("the sympy helper process was used")

    monkeypatch.setattr(worker, "call_with_timeout", forbidden)
    for case in CASES:
        if case.category in ("gsm8k", "fraction", "integer", "text"):
            assert grade(case.response, case.gold).correct is case.correct, case


def _timed_grade(timeout_seconds):
    start = time.monotonic()
    result = grade(rf"\boxed{{{PATHOLOGICAL}}}", PATHOLOGICAL + "+1", timeout_seconds=timeout_seconds)
    return result, time.monotonic() - start


def test_pathological_expression_times_out_and_helper_recovers():
    assert grade(r"\boxed{2\sqrt{3}}", r"\sqrt{12}").correct  # warm the helper: startup is not timed
    result, seconds = _timed_grade(1.0)
    assert result.timed_out and not result.correct
    assert seconds < 2.5, seconds
    assert grade(r"\boxed{\sqrt{18}}", r"3\sqrt{2}").correct  # a fresh helper took over


def test_grade_off_the_main_thread():
    with ThreadPoolExecutor(max_workers=2) as pool:
        symbolic = pool.submit(grade, r"\boxed{\frac{1}{\sqrt{2}}}", r"\frac{\sqrt{2}}{2}")
        slow = pool.submit(_timed_grade, 1.0)
        assert symbolic.result().correct
        result, seconds = slow.result()
    assert result.timed_out and not result.correct
    assert seconds < 5.0, seconds  # may wait for the other call's turn at the helper


def test_config_builds_the_grader():
    grader = instantiate(OmegaConf.load(CONFIG))
    result = grader("#### 72", "72")
    assert isinstance(result, Grade) and result.correct


@pytest.mark.parametrize(("pred", "gold", "equal"), [
    # Integers are exact values: no relative tolerance (issue 16, bug 3). Two GSM8K golds are >= 10^6.
    ("1450001", "1450000", False),
    ("1000001", "1000000", False),
    ("123456789", "123456790", False),
    ("1,450,000", "1450000", True),
    ("1450000.0", "1450000", True),
    ("1450000.4", "1450000", False),  # a decimal with 8 digits shown does not round to 1450000 at 1 place
    # The same on the sympy path: LaTeX forms are evaluated exactly, then compared exactly.
    ("2^{20}", "1048577", False),
    ("2^{20}", "1048576", True),
    (r"1.45\times 10^{6}", "1450001", False),
    (r"1.45\times 10^{6}", "1450000", True),
    # A decimal of >= 6 significant digits stands for the value it rounds, to the places it shows.
    ("0.333333", r"\frac{1}{3}", True),
    ("0.333333", "1/3", True),
    ("-0.333333", "-1/3", True),
    ("0.666667", "2/3", True),
    ("0.666666", "2/3", False),  # truncated, not rounded
    ("0.3333", "1/3", False),  # 4 digits: an approximation, not the answer
    ("33.3333", "100/3", True),
    ("1.414214", r"\sqrt{2}", True),
    ("1.414213", r"\sqrt{2}", False),
    ("3.14159", r"\pi", True),  # 6 digits, correctly rounded
    ("3.1416", r"\pi", False),  # 5 digits
    ("3.141592", r"\pi", False),  # truncated
    (r"\log_2 8", "3", True),  # irrational-looking exact forms still compare at many digits
    # Percent: the sign is dropped, or "50%" is the proportion 0.5 against a decimal or fraction only.
    (r"5000\%", "50", False),
    (r"50\%", "5000", False),
    (r"50\%", "50", True),
    (r"50\%", "0.5", True),
    (r"50\%", r"\frac{1}{2}", True),
    (r"100\%", "1", False),  # beside a whole number a percentage is the percent figure
    (r"33.3333\%", "1/3", True),
])
def test_numeric_equivalence_rule(pred, gold, equal):
    assert is_equivalent(pred, gold) is equal
    assert is_equivalent(gold, pred) is equal  # the rule is symmetric


_MATRIX = r"\begin{pmatrix} 1 \\ 2 \end{pmatrix}"


@pytest.mark.parametrize(("response", "answer", "rule"), [
    # The number the marker states, not the last number of a wordy sentence (issue 16, bug 4).
    ("The answer is 18 apples for the 3 kids.", "18", "answer_is"),
    ("So the answer is 20 dollars per hour for 8 hours.", "20", "answer_is"),
    ("The answer is 7, because 3 + 4 = 7.", "7", "answer_is"),
    ("The answer is 3 + 4 = 7.", "7", "answer_is"),  # an arithmetic chain: its result
    ("The answer is x = 5.", "x = 5", "answer_is"),  # an assignment is left to normalisation
    ("The answer is 2, 5 for the two roots.", "2, 5", "answer_is"),
    ("The answer is 1,250 pears.", "1,250", "answer_is"),
    # A later check does not override the stated answer.
    ("The answer is 18 Check: 3 + 4 = 7", "18", "answer_is"),
    ("The answer is 18; check: 3 + 4 = 7", "18", "answer_is"),
    ("The answer is: 18 (check: 3 + 4 = 7)", "18", "answer_is"),
    ("So the answer is 18. Let us check: the answer is 3 + 4 = 7.", "18", "answer_is"),
    ("Final answer: 18\nVerify: the answer is 15 + 3.", "18", "answer_is"),
    ("Checking our work, the answer is 18.", "18", "answer_is"),  # the only marker still counts
    # A matrix or tuple stays whole.
    (f"The answer is {_MATRIX}.", _MATRIX, "answer_is"),
    ("The answer is (3, 4) for x and y.", "(3, 4)", "answer_is"),
    # Markdown emphasis is no part of the answer.
    ("The answer is **18**.", "18", "answer_is"),
    ("**Final Answer:** 18", "18", "answer_is"),
    ("**Final Answer**: 18", "18", "answer_is"),
    ("#### **18**", "18", "hash"),
    ("The answer is *18*.", "18", "answer_is"),
    ("The answer is 2*3 = 6.", "6", "answer_is"),  # a product's "*" is no emphasis
    # Units after the number are dropped.
    ("The answer is 60 km/h.", "60", "answer_is"),
    ("The answer is $60/hour.", "$60", "answer_is"),
    ("The answer is 18 (dollars).", "18", "answer_is"),
    ("The answer is 2 \\sqrt{3} meters.", "2 \\sqrt{3}", "answer_is"),  # LaTeX commands are no prose
    ("The answer is 2 sqrt(3) meters.", "2 sqrt(3)", "answer_is"),  # nor are math functions
    # A placeholder in the last marker does not hide an earlier real one.
    (r"So \boxed{18}. Answer format: \boxed{N}", "18", "boxed"),
    (r"\boxed{18} and \boxed{answer}", "18", "boxed"),
    ("The answer is 18.\nThe answer is N.", "18", "answer_is"),
])
def test_extraction_takes_the_stated_answer(response, answer, rule):
    assert extract_answer(response) == (answer, rule)


@pytest.mark.parametrize(("response", "gold"), [
    ("The answer is 18 apples for the 3 kids.", "18"),
    ("The answer is **18**.", "18"),
    ("**Final Answer:** 18", "18"),
    ("The answer is 60 km/h.", "60"),
    ("The answer is $60/hour.", "60"),
    ("The answer is 18 (dollars).", "18"),
    (r"\boxed{60 \text{ km/h}}", "60"),
    (r"\boxed{18 \text{ (dollars)}}", "18"),
    (f"The answer is {_MATRIX}.", _MATRIX),
])
def test_stated_answer_grades_right(response, gold):
    result = grade(response, gold)
    assert (result.correct, result.strict_correct) == (True, True), result


def test_skipped_placeholder_box_is_recorded():
    result = grade(r"So \boxed{18}. Answer format: \boxed{N}", "18")
    assert (result.correct, result.rule, result.placeholder) == (True, "boxed", True)


def _old_record(i: int, response: str, gold: str, answer: str, correct: bool, strict: bool, **fields) -> dict:
    return {"id": f"p{i}", "gold": gold, "response": response, "answer": answer, "correct": correct,
            "strict_correct": strict, "extraction_rule": "answer_is", **fields}


def test_regrade_counts_what_the_current_grader_changes(tmp_path):
    regrade = benchmark_script("regrade")
    records = [
        # What the old grader recorded: 1450001 within 1e-6 of 1450000; the last number of a wordy sentence.
        _old_record(0, r"So \boxed{1450001}.", "1450000", "1450001", True, True),
        _old_record(1, "The answer is 18 apples for the 3 kids.", "18", "3", False, False),
        _old_record(2, r"\boxed{7}", "7", "7", True, True),  # unchanged
        _old_record(3, "The answer is **18**.", "18", "**18**", False, False,
                    rounds=[{"round": 1, "response": "The answer is 18 (dollars).", "answer": "18 (dollars)",
                             "correct": False, "strict_correct": False}]),
    ]
    (tmp_path / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    finals, attempts = regrade.regrade(tmp_path)
    assert regrade.flip_counts(finals, "correct") == (2, 1)
    assert regrade.flip_counts(finals, "strict_correct") == (2, 1)
    assert regrade.flip_counts(attempts, "correct") == (1, 0)  # a feedback round, graded as the runner did
    assert [item.id for item in finals if item.answer_changed] == ["p1", "p3"]
    text = regrade.report(tmp_path, examples=2)
    assert "correct: 3 flip (2 wrong -> right, 1 right -> wrong)" in text
    assert "attempts correct: 1 flip (1 wrong -> right, 0 right -> wrong)" in text
    assert text.count("gold ") == 2  # two examples shown
