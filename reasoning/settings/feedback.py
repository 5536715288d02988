"""Feedback: the student answers, the teacher reviews; on REVISE the student refines with the feedback.

Round r = one student attempt (r = 1 answers, r > 1 refines) and, unless it is the last allowed
round, the teacher's review of it. The loop ends when the teacher accepts or after `max_rounds`
attempts (the last attempt is not reviewed: no round would use that review).

How a refine reaches the student is `refine_format` (see `SingleMessage`, `Chat`). Every refinement
records how much of the previous attempt it kept (`copying.py`).
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Annotated, Literal

from reasoning import progress
from reasoning.errors import ReasoningError
from reasoning.models.types import Conversation, Cost, LanguageModel, as_messages
from reasoning.prompts import render
from reasoning.settings import copying
from reasoning.settings.trace import Trace
from reasoning.settings.verdict import ACCEPT, REVISE, parse_verdict
from reasoning.validate import Count, Prompt, check_arguments, check_value

MARKER = "VERDICT:"


@dataclass
class Review:
    """What a reviewer hands back for one problem."""

    verdict: str  # ACCEPT, REVISE or UNPARSEABLE
    feedback: str  # what the student is shown on a refine
    text: str  # what the teacher wrote (score mode: plus the margin), recorded in the trace
    cost: Cost


class WrittenVerdict:
    """The teacher writes a review; its explicit verdict is parsed (an unparseable one is not ACCEPT)."""

    default_prompt = "teacher_review"

    def __call__(self, teacher: LanguageModel, prompts: dict[int, list[int]], max_new_tokens: int) -> dict[int, Review]:
        gens = teacher.generate(list(prompts.values()), max_new_tokens)
        # An unparseable review is not an acceptance: the student sees the whole review as feedback.
        return {i: Review(*parse_verdict(gen.text), gen.text, gen.cost) for i, gen in zip(prompts, gens)}


class ScoredVerdict:
    """The verdict from one forward pass at the `VERDICT:` position of a verdict-first review.

    Like is compared with like: the words " ACCEPT" and " REVISE" share a prefix of tokens (often
    none); one row per problem (prompt + marker + that prefix) is scored once and gives the log-probs
    of both first differing tokens as its `next_tokens`, so neither word pays for being longer and the
    prompt is computed once. On REVISE the teacher then writes its feedback after "VERDICT: REVISE".
    """

    default_prompt = "teacher_review_verdict_first"

    def __call__(self, teacher: LanguageModel, prompts: dict[int, list[int]], max_new_tokens: int) -> dict[int, Review]:
        marker = teacher.encode(MARKER)
        shared, accept, revise = _split_at_first_difference(teacher.encode(" ACCEPT"), teacher.encode(" REVISE"))
        rows = [prompts[i] + marker + shared for i in prompts]
        scores = teacher.score(rows, [[] for _ in rows], next_tokens=[accept, revise])
        out = {}
        for i, score in zip(prompts, scores):
            margin = score.next_logprobs[accept] - score.next_logprobs[revise]
            out[i] = Review(ACCEPT if margin > 0 else REVISE, "",
                            f"[score: log p(ACCEPT) - log p(REVISE) = {margin:.3f}]",
                            replace(score.cost))  # a copy: the feedback's cost is added to it below
        to_explain = [i for i in prompts if out[i].verdict == REVISE]
        written = teacher.encode(f"{MARKER} REVISE\n")
        gens = teacher.generate([prompts[i] + written for i in to_explain], max_new_tokens)
        for i, gen in zip(to_explain, gens):
            review = out[i]
            review.cost += gen.cost
            review.feedback, review.text = gen.text.strip(), f"{MARKER} REVISE\n{gen.text}\n{review.text}"
        return out


REVIEWERS = {"generate": WrittenVerdict, "score": ScoredVerdict}


class SingleMessage:
    """The refine as one new user message holding the problem, the previous solution and the feedback."""

    default_prompt = "student_refine"
    needs = ("question", "solution", "feedback")

    def next_ask(self, ask: Conversation, response: str, refine: str) -> Conversation:
        return refine


class Chat:
    """The refine as the next turn of a conversation (the Self-Refine shape): the previous attempt is the
    student's own assistant turn, the feedback and the request to rewrite are the next user turn.

    Every earlier turn is kept, not only the latest attempt: it is the conversation as it happened,
    each round's prompt extends the previous round's prompt and reply (so the prefix cache serves all
    but the new user turn), and the student sees every attempt the teacher already turned down. With
    the default max_rounds=3 that is at most two earlier attempts, little room to drift.
    """

    default_prompt = "student_refine_chat"
    needs = ("feedback",)

    def next_ask(self, ask: Conversation, response: str, refine: str) -> Conversation:
        return [*as_messages(ask), {"role": "assistant", "content": response}, {"role": "user", "content": refine}]


REFINE_FORMATS = {"single": SingleMessage, "chat": Chat}


class Feedback:
    name = "feedback"

    def __init__(self, student: LanguageModel, teacher: LanguageModel, max_rounds: Count = 3,
                 verdict_mode: Literal["generate", "score"] = "generate", max_new_tokens: Count = 512,
                 review_max_new_tokens: Count = 256, refine_format: Literal["single", "chat"] = "chat",
                 answer_prompt: Annotated[str, Prompt("question")] = "student_answer",
                 review_prompt: Annotated[str, Prompt("question", "solution")] | None = None,
                 refine_prompt: Annotated[str, Prompt("feedback")] | None = None):
        check_arguments(Feedback, "setting", dict(
            max_rounds=max_rounds, verdict_mode=verdict_mode, max_new_tokens=max_new_tokens,
            review_max_new_tokens=review_max_new_tokens, refine_format=refine_format, answer_prompt=answer_prompt,
            review_prompt=review_prompt, refine_prompt=refine_prompt))
        self.student, self.teacher = student, teacher
        self.max_rounds = max_rounds
        self.verdict_mode = verdict_mode
        self.reviewer = REVIEWERS[verdict_mode]()
        self.refine_format = REFINE_FORMATS[refine_format]()
        self.max_new_tokens = max_new_tokens
        self.review_max_new_tokens = review_max_new_tokens
        built_in = self.default_templates(dict(verdict_mode=verdict_mode, refine_format=refine_format))
        self.prompts = dict(answer=answer_prompt, review=review_prompt or built_in["review_prompt"],
                            refine=refine_prompt or built_in["refine_prompt"])

    @classmethod
    def default_templates(cls, knobs: dict) -> dict[str, str]:
        """The built-in template a null knob stands for: the one that fits the verdict mode (score mode
        needs the verdict first) or the refine format. The run's identity hashes it like a named one."""
        return {"review_prompt": REVIEWERS[knobs.get("verdict_mode", "generate")].default_prompt,
                "refine_prompt": REFINE_FORMATS[knobs.get("refine_format", "single")].default_prompt}

    @classmethod
    def check_knobs(cls, knobs: dict) -> None:
        """A single-message refine must show the problem and the previous solution itself; in a chat
        they are earlier turns, so its template needs only the feedback."""
        refine_format, template = REFINE_FORMATS.get(knobs.get("refine_format")), knobs.get("refine_prompt")
        if refine_format is not None and isinstance(template, str):
            check_value("setting.refine_prompt", template, Annotated[str, Prompt(*refine_format.needs)])

    def solve(self, problems):
        traces = []
        for p in problems:
            rounds: list[dict] = []
            traces.append(Trace(p, extra={"rounds": rounds}, attempts=rounds))  # every round's answer is graded
        asks = {i: render(self.prompts["answer"], question=p.question) for i, p in enumerate(problems)}
        active = list(range(len(problems)))
        for round_no in range(1, self.max_rounds + 1):
            self._attempt(traces, active, asks, round_no)
            if round_no < self.max_rounds:
                verdicts = self._review(traces, active, round_no)
                active = [i for i in active if verdicts[i] != ACCEPT]
            else:
                active = []
            progress.round_done(self.name, round_no, active=len(active), total=len(problems))
            if not active:
                break
            asks = {i: self._refine_ask(traces[i], asks[i]) for i in active}
        return traces

    def _refine_ask(self, trace: Trace, ask: Conversation) -> Conversation:
        """What the student gets next: the refine template filled in, sent as the refine format says."""
        refine = render(self.prompts["refine"], question=trace.problem.question, solution=trace.response,
                        feedback=trace.extra["rounds"][-1]["feedback"])
        return self.refine_format.next_ask(ask, trace.response, refine)

    def _attempt(self, traces, active, asks, round_no):
        prompts = [self.student.encode_chat(asks[i]) for i in active]
        for i, gen in zip(active, self.student.generate(prompts, self.max_new_tokens)):
            trace = traces[i]
            trace.log("generate", "student", gen.cost, round=round_no, prompt=self.student.render_chat(asks[i]),
                      text=gen.text, finish_reason=gen.finish_reason)
            rounds = trace.extra["rounds"]
            copied = copying.compare(rounds[-1]["response"], gen.text) if rounds else {}
            trace.response = gen.text
            rounds.append({"round": round_no, "response": gen.text, **copied, "verdict": None, "feedback": None,
                           "student_generated_tokens": gen.cost.generated_tokens, "teacher_generated_tokens": 0})

    def _review(self, traces, active, round_no) -> dict[int, str]:
        texts = {i: render(self.prompts["review"], question=traces[i].problem.question,
                           solution=traces[i].response) for i in active}
        prompts = {i: self.teacher.encode_chat(texts[i]) for i in active}
        verdicts = self.reviewer(self.teacher, prompts, self.review_max_new_tokens)
        for i in active:
            review = verdicts[i]
            traces[i].log("review", "teacher", review.cost, round=round_no,
                          prompt=self.teacher.render_chat(texts[i]), verdict=review.verdict, text=review.text)
            entry = traces[i].extra["rounds"][-1]
            entry.update(verdict=review.verdict, feedback=review.feedback,
                         teacher_generated_tokens=review.cost.generated_tokens)
        return {i: verdicts[i].verdict for i in active}


def _split_at_first_difference(a: list[int], b: list[int]) -> tuple[list[int], int, int]:
    """(shared prefix, a's first own token, b's first own token)."""
    k = 0
    while k < min(len(a), len(b)) and a[k] == b[k]:
        k += 1
    if k == min(len(a), len(b)):
        raise ReasoningError("the teacher's tokenizer gives ' ACCEPT' and ' REVISE' no differing token; "
                             "use setting.verdict_mode=generate")
    return a[:k], a[k], b[k]
