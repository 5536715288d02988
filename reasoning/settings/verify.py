"""How the teacher checks a student's draft: cut it into units, find the first unit it rejects.

Units: `token` (each token), `step` (up to and including the token that completes a `step_delimiter`:
a line by default, a blank-line paragraph with "\\n\\n" as SpecReason), `chunk` (`chunk_tokens` tokens).

Verifiers, one small class per `criterion` (`VERIFIERS`), each taking a batch of `Draft`s and
returning one `Verdict` per draft:
- `argmax`: a unit is rejected when one of its tokens differs from the teacher's greedy token;
- `logprob`: when the unit's teacher log-probs, aggregated (`mean`, or `min`: the least likely token,
  which a single wrong number cannot hide in), fall below `threshold`;
  both read from ONE teacher forward pass over the whole draft, which also says for free whether the
  teacher's greedy tokens agree with each unit (`Verdict.unit_agrees`, the calibration label);
- `judge`: the teacher is asked whether the unit is correct; log p(Yes) - log p(No) of the first reply
  token, read from one next-token distribution per unit, below `judge_threshold` rejects it;
- `score`: SpecReason's utility score: the teacher rates the new step 0-9 in one next-token
  distribution over the digit tokens (`score_mode`: the likeliest digit, or the expected digit);
  below `score_threshold` rejects it.
"""
from __future__ import annotations

import inspect
import math
from dataclasses import dataclass
from typing import Callable, Sequence

from reasoning.errors import ReasoningError
from reasoning.models.types import Cost, LanguageModel, Scores
from reasoning.prompts import render

AGGREGATES = {"mean": lambda xs: sum(xs) / len(xs), "min": min}
UNIT_NAMES = {"step": "step", "chunk": "part"}  # what the judge and score prompts call a unit
Span = tuple[int, int]  # [start, end) token offsets of a unit in its draft


@dataclass(frozen=True)
class Draft:
    """One problem's draft, as the teacher checks it."""

    question: str
    context: list[int]  # the prompt and the accepted response: what the draft continues
    accepted: list[int]  # the accepted response alone (the judge's "solution so far")
    ids: list[int]
    units: list[Span]


@dataclass(frozen=True)
class Rejection:
    """The first unit the teacher rejects."""

    start: int
    end: int
    index: int
    score: float  # the unit's score: aggregated log-prob, judge margin or utility score
    teacher_token: int | None = None  # the teacher's greedy token at `start` (argmax / logprob)


@dataclass(frozen=True)
class Verdict:
    """The teacher's reading of one draft, built once."""

    cost: Cost
    unit_scores: list[float]  # every unit checked (up to the rejected one), for calibrating thresholds
    rejection: Rejection | None = None
    next_token: int | None = None  # the teacher's greedy token after a fully accepted draft (argmax only)
    unit_agrees: list[bool] | None = None  # whether the teacher's greedy tokens equal each checked unit


def split_units(ids: list[int], granularity: str, token_texts: list[str], chunk_tokens: int,
                delimiter: str = "\n") -> list[Span]:
    if granularity == "token":
        return [(i, i + 1) for i in range(len(ids))]
    if granularity == "chunk":
        return [(i, min(i + chunk_tokens, len(ids))) for i in range(0, len(ids), chunk_tokens)]
    spans, start, text = [], 0, ""
    for i, token_text in enumerate(token_texts):
        text += token_text  # the step's text so far: a "\n\n" may come as two "\n" tokens
        if delimiter in text:
            spans.append((start, i + 1))
            start, text = i + 1, ""
    if start < len(ids):
        spans.append((start, len(ids)))
    return spans


def build(verifier: type, available: dict):
    """A verifier from the setting's knobs: each class takes only the ones its __init__ names."""
    names = inspect.signature(verifier).parameters
    return verifier(**{name: available[name] for name in names})


# --- one pass over the drafts: argmax and logprob ---------------------------------------------------
def _read_drafts(teacher: LanguageModel, drafts: Sequence[Draft], unit_score, rejects,
                 keep_next_token: bool = False) -> list[Verdict]:
    """Score every draft of the batch in one teacher pass; the first unit `rejects` says no to is rejected."""
    verdicts = []
    for draft, scores in zip(drafts, teacher.score([d.context for d in drafts], [d.ids for d in drafts])):
        values, agrees, rejection = [], [], None
        for k, (start, end) in enumerate(draft.units):
            value, agree = unit_score(scores.logprobs[start:end]), scores.argmax_ids[start:end] == draft.ids[start:end]
            values.append(value)
            agrees.append(agree)
            if rejects(value, agree):
                rejection = Rejection(start, end, k, value, teacher_token=scores.argmax_ids[start])
                break
        next_token = scores.next_argmax_id if rejection is None and keep_next_token else None
        verdicts.append(Verdict(scores.cost, values, rejection, next_token, agrees))
    return verdicts


class ArgmaxVerifier:
    """Reject the first unit holding a token that is not the teacher's greedy token (token+argmax is lossless).
    After a fully accepted draft the teacher's greedy next token came with the same pass: it is taken too."""

    def __init__(self, teacher: LanguageModel, aggregate: str):
        self.teacher, self.unit_score = teacher, AGGREGATES[aggregate]  # scores recorded for calibration

    def __call__(self, drafts: Sequence[Draft]) -> list[Verdict]:
        return _read_drafts(self.teacher, drafts, self.unit_score, lambda value, agree: not agree, keep_next_token=True)


class LogprobVerifier:
    """Reject the first unit whose aggregated teacher log-prob is below `threshold`."""

    def __init__(self, teacher: LanguageModel, threshold: float, aggregate: str):
        self.teacher, self.threshold, self.unit_score = teacher, threshold, AGGREGATES[aggregate]

    def __call__(self, drafts: Sequence[Draft]) -> list[Verdict]:
        return _read_drafts(self.teacher, drafts, self.unit_score, lambda value, agree: value < self.threshold)

    @staticmethod
    def check_knobs(knobs: dict) -> None:
        if knobs["threshold"] > 0:
            raise ReasoningError(f"setting.threshold={knobs['threshold']} with criterion=logprob rejects every unit "
                                 f"(a log-prob is never above 0); use a negative threshold, e.g. "
                                 f"setting.threshold=-{knobs['threshold']}")


# --- one question per unit: judge and score ---------------------------------------------------------
def _ask_per_unit(teacher: LanguageModel, drafts: Sequence[Draft], question: Callable[[Draft, Span], str],
                  next_tokens: Sequence[int], read: Callable[[Scores], float], threshold: float) -> list[Verdict]:
    """Ask about the units in order, as SpecReason scores each step as it comes: call k asks unit k of
    every draft not yet decided, one row each, read from its next-token distribution; a draft stops at
    its first unit scoring below `threshold`. So no unit after a rejection is asked, and each row
    continues the previous call's row up to the new unit (the solution so far grows by one unit): the
    prefix cache serves the problem and the solution so far, and a row computes about its unit and the
    question's tail. Asking every unit in one call instead computed the whole solution so far again for
    every unit: on the bundled pair no batch of 8 problems finished in 14 minutes (2-core CPU, float32).
    """
    scored: list[list[tuple[float, Cost]]] = [[] for _ in drafts]
    rejections: list[Rejection | None] = [None] * len(drafts)
    for k in range(max((len(d.units) for d in drafts), default=0)):
        asking = [i for i, d in enumerate(drafts) if rejections[i] is None and k < len(d.units)]
        if not asking:
            break
        rows = [teacher.encode_chat(question(drafts[i], drafts[i].units[k])) for i in asking]
        for i, scores in zip(asking, teacher.score(rows, [[] for _ in rows], next_tokens=next_tokens)):
            value = read(scores)
            scored[i].append((value, scores.cost))
            if value < threshold:
                rejections[i] = Rejection(*drafts[i].units[k], k, value)
    return [Verdict(Cost.total(c for _, c in units), [v for v, _ in units], rejection)
            for units, rejection in zip(scored, rejections)]


class _UnitQuestion:
    """The judge's and the scorer's prompt for one unit: the problem, the solution so far, the unit."""

    def __init__(self, prompt: str, decode: Callable, granularity: str, step_included: bool):
        self.prompt, self.decode, self.unit = prompt, decode, UNIT_NAMES.get(granularity, "step")
        self.step_included = step_included  # the judge's "solution so far" ends with the step it asks about

    def __call__(self, draft: Draft, span: Span) -> str:
        start, end = span
        solution = self.decode(draft.accepted + draft.ids[: end if self.step_included else start]).strip()
        return render(self.prompt, question=draft.question, solution=solution or "(nothing yet)",
                      step=self.decode(draft.ids[start:end]).strip(), unit=self.unit)


class JudgeVerifier:
    """Ask "is the last unit correct?"; reject when log p(Yes) - log p(No) is below `judge_threshold`."""

    def __init__(self, teacher: LanguageModel, decode: Callable, judge_prompt: str, judge_threshold: float,
                 granularity: str):
        self.teacher, self.threshold = teacher, judge_threshold
        self.yes, self.no = teacher.encode("Yes")[0], teacher.encode("No")[0]  # like with like: first tokens
        self.question = _UnitQuestion(judge_prompt, decode, granularity, step_included=True)

    def __call__(self, drafts: Sequence[Draft]) -> list[Verdict]:
        return _ask_per_unit(self.teacher, drafts, self.question, (self.yes, self.no), self.margin, self.threshold)

    def margin(self, scores: Scores) -> float:
        return scores.next_logprobs[self.yes] - scores.next_logprobs[self.no]

    @staticmethod
    def check_knobs(knobs: dict) -> None:
        _whole_units_only(knobs, "asks about whole units")


class ScoreVerifier:
    """SpecReason's utility score: "rate this step 0-9" read from one next-token distribution over the
    digits; `greedy` takes the likeliest digit, `expected` sum p(d) * d renormalised over the digits.
    Reject when the score is below `score_threshold` (accept at >= threshold, as SpecReason's 7)."""

    def __init__(self, teacher: LanguageModel, decode: Callable, score_prompt: str, score_threshold: float,
                 score_mode: str, granularity: str):
        self.teacher, self.threshold, self.mode = teacher, score_threshold, score_mode
        self.digits = digit_tokens(teacher)
        self.question = _UnitQuestion(score_prompt, decode, granularity, step_included=False)

    def __call__(self, drafts: Sequence[Draft]) -> list[Verdict]:
        return _ask_per_unit(self.teacher, drafts, self.question, self.digits, self.score, self.threshold)

    def score(self, scores: Scores) -> float:
        logprobs = [scores.next_logprobs[t] for t in self.digits]
        if self.mode == "greedy":
            return float(max(range(10), key=lambda d: logprobs[d]))
        top = max(logprobs)
        weights = [math.exp(lp - top) for lp in logprobs]
        return sum(d * w for d, w in enumerate(weights)) / sum(weights)

    @staticmethod
    def check_knobs(knobs: dict) -> None:
        _whole_units_only(knobs, "rates whole units")


def digit_tokens(teacher: LanguageModel) -> list[int]:
    """The token of each digit 0..9 (its last token: a sentencepiece "▁" may come first)."""
    ids = [teacher.encode(str(d))[-1] for d in range(10)]
    if len(set(ids)) != 10:
        raise ReasoningError(f"setting.criterion=score needs one token per digit 0-9, but {teacher.name}'s tokenizer "
                             "does not give ten distinct ones; use criterion=judge or logprob")
    return ids


def _whole_units_only(knobs: dict, what: str) -> None:
    if knobs["granularity"] == "token":
        raise ReasoningError(f"setting.criterion={knobs['criterion']} {what}, not single tokens; "
                             "use setting.granularity=step or chunk")


VERIFIERS = {"argmax": ArgmaxVerifier, "logprob": LogprobVerifier, "judge": JudgeVerifier, "score": ScoreVerifier}
# The setting's knobs that only one criterion reads: a run of another criterion is not told apart by them
# (a score run's `threshold` says nothing about it). `aggregate` only labels argmax's recorded scores.
CRITERION_KNOBS = {"argmax": (), "logprob": ("threshold", "aggregate"), "judge": ("judge_threshold", "judge_prompt"),
                   "score": ("score_threshold", "score_mode", "score_prompt")}


def unused_knobs(criterion: str) -> set[str]:
    """The criterion knobs a run with `criterion` never reads."""
    return {k for knobs in CRITERION_KNOBS.values() for k in knobs} - set(CRITERION_KNOBS.get(criterion, ()))
