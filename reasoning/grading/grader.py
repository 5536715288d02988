"""grade(response, gold) -> Grade: extract the answer, then check it against the gold answer."""

from dataclasses import asdict, dataclass

from reasoning.grading.equivalence import check_equivalence
from reasoning.grading.extract import STRICT_RULES, extract, extract_strict


@dataclass(frozen=True)
class Grade:
    correct: bool  # lenient: any extraction rule, the last-number fallback included
    strict_correct: bool  # only an explicit answer marker (boxed, ####, "the answer is") counts
    extracted: str | None  # the answer text found in the response, before normalisation
    rule: str | None  # which rule found it: "boxed", "hash", "answer_is", "last_number"
    timed_out: bool = False  # the symbolic check ran out of time (then correct is False)
    placeholder: bool = False  # a marker held only a placeholder ("The answer is N.") and was skipped

    def to_dict(self) -> dict:
        return asdict(self)


def grade(response: str, gold: str, timeout_seconds: float = 5.0) -> Grade:
    """Grade one response against its gold answer. Safe to call from any thread."""
    extracted, rule, placeholder = extract(response)
    if extracted is None:
        return Grade(correct=False, strict_correct=False, extracted=None, rule=None, placeholder=placeholder)
    verdict = check_equivalence(extracted, gold_answer(gold), timeout_seconds)
    return Grade(
        correct=verdict.equal,
        # The strict answer is the lenient one whenever a marker exists (markers are tried first).
        strict_correct=verdict.equal and rule in STRICT_RULES,
        extracted=extracted,
        rule=rule,
        timed_out=verdict.timed_out,
        placeholder=placeholder,
    )


def gold_answer(gold: str) -> str:
    """The answer part of a gold string: datasets sometimes keep "#### 72" or "\\boxed{...}" in it."""
    marked, _ = extract_strict(gold)
    return marked if marked is not None else gold.strip()
