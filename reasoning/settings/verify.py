"""How the teacher checks a student's draft: cut it into units, find the first unit it rejects.

Units: `token` (each token), `step` (up to and including a token that holds a newline), `chunk`
(`chunk_tokens` tokens). Criteria: `argmax` (a token differs from the teacher's greedy token),
`logprob` (the unit's mean teacher log-prob is below `threshold`), both read from ONE teacher
forward pass over the whole draft; `judge` (the teacher is asked whether the unit is correct and
log p(Yes) - log p(No) is below `threshold`), one batched pass with a row per unit.
"""
from __future__ import annotations

from dataclasses import dataclass

from reasoning.models.types import Cost
from reasoning.prompts import render
from reasoning.settings.trace import one_call

GRANULARITIES = ("token", "step", "chunk")
CRITERIA = ("argmax", "logprob", "judge")


@dataclass
class Verdict:
    """The teacher's reading of one draft: the first rejected unit (or None) and the call's cost."""

    rejected: tuple[int, int] | None  # [start, end) token span of the first rejected unit in the draft
    unit_index: int | None
    score: float | None  # the rejected unit's score (mean log-prob or judge margin)
    teacher_token: int | None  # the teacher's greedy token at `start` (argmax/logprob criteria)
    units: int
    cost: Cost
    unit_scores: list[float]  # the score of every unit checked, up to the rejected one: for calibrating thresholds


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


def check_by_likelihood(teacher, prompts, drafts, units, criterion, threshold) -> list[Verdict]:
    """argmax / logprob: one teacher forward pass over every draft of the batch."""
    verdicts = []
    for draft, spans, scores in zip(drafts, units, teacher.score(prompts, drafts)):
        verdict = Verdict(None, None, None, None, len(spans), scores.cost, [])
        for k, (start, end) in enumerate(spans):
            mean = sum(scores.logprobs[start:end]) / (end - start)
            verdict.unit_scores.append(mean)
            differs = any(scores.argmax_ids[j] != draft[j] for j in range(start, end))
            if (criterion == "argmax" and differs) or (criterion == "logprob" and mean < threshold):
                verdict.rejected, verdict.unit_index, verdict.score = (start, end), k, mean
                verdict.teacher_token = scores.argmax_ids[start]
                break
        verdicts.append(verdict)
    return verdicts


def check_by_judge(teacher, questions, decode, prefixes, drafts, units, threshold, prompt) -> list[Verdict]:
    """judge: ask the teacher about every unit at once (a Yes row and a No row per unit)."""
    rows, owners = [], []
    yes, no = teacher.encode("Yes"), teacher.encode("No")
    for b, (question, prefix, draft, spans) in enumerate(zip(questions, prefixes, drafts, units)):
        for start, end in spans:
            text = render(prompt, question=question, solution=decode(prefix + draft[:end]).strip(),
                          step=decode(draft[start:end]).strip())
            rows.append(teacher.encode_chat(text))
            owners.append(b)
    scores = teacher.score([r for r in rows for _ in (0, 1)], [yes, no] * len(rows))
    verdicts = []
    for b, spans in enumerate(units):
        mine = [k for k, owner in enumerate(owners) if owner == b]
        cost = one_call([scores[2 * k].cost for k in mine] + [scores[2 * k + 1].cost for k in mine])
        verdict = Verdict(None, None, None, None, len(spans), cost, [])
        for unit_index, k in enumerate(mine):
            margin = sum(scores[2 * k].logprobs) - sum(scores[2 * k + 1].logprobs)
            verdict.unit_scores.append(margin)
            if margin < threshold:
                verdict.rejected, verdict.unit_index, verdict.score = spans[unit_index], unit_index, margin
                break
        verdicts.append(verdict)
    return verdicts
