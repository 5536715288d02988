"""How the teacher checks a student's draft: cut it into units, find the first unit it rejects.

Units: `token` (each token), `step` (up to and including a token that holds a newline), `chunk`
(`chunk_tokens` tokens). Criteria:
- `argmax`: a unit is rejected when one of its tokens differs from the teacher's greedy token;
- `logprob`: when the unit's teacher log-probs, aggregated (`mean`, or `min`: the least likely token,
  which a single wrong number cannot hide in), fall below `threshold`;
both read from ONE teacher forward pass over the whole draft;
- `judge`: the teacher is asked whether the unit is correct; log p(Yes) - log p(No) of the first reply
  token, read from one next-token distribution per unit, below `judge_threshold` rejects it.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from reasoning.models.types import Cost
from reasoning.prompts import render
from reasoning.settings.trace import one_call

AGGREGATES = {"mean": lambda xs: sum(xs) / len(xs), "min": min}
UNIT_NAMES = {"step": "step", "chunk": "part"}  # what the judge prompt calls a unit


@dataclass
class Verdict:
    """The teacher's reading of one draft: the first rejected unit (or None) and the call's cost."""

    units: int
    cost: Cost
    rejected: tuple[int, int] | None = None  # [start, end) token span of the first rejected unit in the draft
    unit_index: int | None = None
    score: float | None = None  # the rejected unit's score (aggregated log-prob or judge margin)
    teacher_token: int | None = None  # the teacher's greedy token at `start` (argmax/logprob criteria)
    next_token: int | None = None  # the teacher's greedy token after a fully accepted draft (free)
    unit_scores: list[float] = field(default_factory=list)  # every unit checked, for calibrating thresholds


def split_units(ids: list[int], granularity: str, token_texts: list[str], chunk_tokens: int) -> list[tuple[int, int]]:
    if granularity == "token":
        return [(i, i + 1) for i in range(len(ids))]
    if granularity == "chunk":
        return [(i, min(i + chunk_tokens, len(ids))) for i in range(0, len(ids), chunk_tokens)]
    spans, start = [], 0
    for i, text in enumerate(token_texts):
        if "\n" in text:
            spans.append((start, i + 1))
            start = i + 1
    if start < len(ids):
        spans.append((start, len(ids)))
    return spans


def check_by_likelihood(teacher, prompts, drafts, units, criterion, threshold, aggregate="mean") -> list[Verdict]:
    """argmax / logprob: one teacher forward pass over every draft of the batch."""
    combine = AGGREGATES[aggregate]
    verdicts = []
    for draft, spans, scores in zip(drafts, units, teacher.score(prompts, drafts)):
        verdict = Verdict(len(spans), scores.cost)
        for k, (start, end) in enumerate(spans):
            value = combine(scores.logprobs[start:end])
            verdict.unit_scores.append(value)
            differs = any(scores.argmax_ids[j] != draft[j] for j in range(start, end))
            if (criterion == "argmax" and differs) or (criterion == "logprob" and value < threshold):
                verdict.rejected, verdict.unit_index, verdict.score = (start, end), k, value
                verdict.teacher_token = scores.argmax_ids[start]
                break
        else:
            verdict.next_token = scores.next_argmax_id
        verdicts.append(verdict)
    return verdicts


def check_by_judge(teacher, questions, decode, prefixes, drafts, units, threshold, prompt, granularity) -> list[Verdict]:
    """judge: one row per unit, all units of the batch in one call; Yes and No from one distribution."""
    yes, no = teacher.encode("Yes")[0], teacher.encode("No")[0]  # like with like: each word's first token
    rows, owners = [], []
    for b, (question, prefix, draft, spans) in enumerate(zip(questions, prefixes, drafts, units)):
        for start, end in spans:
            text = render(prompt, question=question, solution=decode(prefix + draft[:end]).strip(),
                          step=decode(draft[start:end]).strip(), unit=UNIT_NAMES[granularity])
            rows.append(teacher.encode_chat(text))
            owners.append(b)
    scores = teacher.score(rows, [[] for _ in rows], next_tokens=(yes, no))
    verdicts = []
    for b, spans in enumerate(units):
        mine = [k for k, owner in enumerate(owners) if owner == b]
        verdict = Verdict(len(spans), one_call([scores[k].cost for k in mine]))
        for unit_index, k in enumerate(mine):
            margin = scores[k].next_logprobs[yes] - scores[k].next_logprobs[no]
            verdict.unit_scores.append(margin)
            if margin < threshold:
                verdict.rejected, verdict.unit_index, verdict.score = spans[unit_index], unit_index, margin
                break
        verdicts.append(verdict)
    return verdicts
